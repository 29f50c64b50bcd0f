"""A worker process for the third SRE review (tests/sre3): tracked tasks.

    python sre3_worker.py --url REDIS_URL --namespace NS --ledger-url URL --ledger KEY [options]

Every task writes what it does to a ledger on a *separate* Redis server:
``RPUSH <ledger> "<event> <task> <token> <pid>"`` and the same line on
``<ledger>:events`` (see tests/sre/conftest.py, ``Ledger``).

Tasks (all tracked, ``track=True``):

- ``coop(token)``: run ``n`` writes ``start coop token#n``, then does its work
  in small steps: between two steps it checks ``current_job().cancel_requested``
  (writes ``saw-cancel`` and raises JobCancelledError) and whether the test
  released it (``RPUSH <ledger>:gate:token#n go``: writes ``end``);
- ``once(token)``: writes ``run once token``.

Options: ``--know coop,once`` (the tasks this worker knows; ``none`` for a
worker of another version that knows none of them), ``--signing-key HEX``,
``--max-bytes N``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import redis

from spinach import Engine, RedisBroker, Tasks, current_job
from spinach.serialization import PayloadLimits

PID = os.getpid()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--ledger-url", required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--queue", default="spinach")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--threshold", type=float, default=3.0)
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--know", default="coop,once")
    parser.add_argument("--signing-key", default=None)
    parser.add_argument("--max-bytes", type=int, default=None)
    args = parser.parse_args()

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s {PID} %(threadName)s %(name)s %(levelname)s %(message)s",
    )
    ledger = redis.Redis.from_url(args.ledger_url, socket_timeout=None)

    def write(event: str, task: str, token: object) -> None:
        line = f"{event} {task} {token} {PID}"
        pipe = ledger.pipeline(transaction=False)
        pipe.rpush(args.ledger, line)
        pipe.rpush(f"{args.ledger}:events", line)
        pipe.execute()

    know = set() if args.know == "none" else set(args.know.split(","))
    tasks = Tasks(queue=args.queue)

    def coop(token: str) -> None:
        me = current_job()
        n = ledger.incr(f"{args.ledger}:runs:coop:{token}")
        run = f"{token}#{n}"
        write("start", "coop", run)
        while True:
            if me.cancel_requested:
                write("saw-cancel", "coop", run)
                me.raise_if_cancelled()
            # One step of the job's work: 50 ms, or the test's go.
            if ledger.blpop([f"{args.ledger}:gate:{run}"], timeout=0.05) is not None:
                write("end", "coop", run)
                return

    def once(token: str) -> None:
        write("run", "once", token)

    if "coop" in know:
        tasks.add(coop, name="coop", max_retries=3, track=True)
    if "once" in know:
        tasks.add(once, name="once", max_retries=3, track=True)

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Started "):
                print("ready", flush=True)

    logging.getLogger("spinach").addHandler(Watch())

    options = {}
    if args.signing_key:
        options["signing_key"] = bytes.fromhex(args.signing_key)
    if args.max_bytes:
        options["payload_limits"] = PayloadLimits(max_bytes=args.max_bytes)
    broker = RedisBroker.from_url(args.url, broker_dead_threshold_seconds=args.threshold)
    spin = Engine(broker, namespace=args.namespace, **options)
    spin.attach_tasks(tasks)
    write("identity", "worker", broker.id)
    spin.start_workers(number=args.threads, queue=args.queue)
    write("exit", "worker", "-")


if __name__ == "__main__":
    main()
