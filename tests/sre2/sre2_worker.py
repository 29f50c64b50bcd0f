"""A Spinach worker process for the second SRE review (tests/sre2).

    python sre2_worker.py --url REDIS_URL --namespace NS --ledger-url URL --ledger KEY [options]

The gated tasks of tests/sre/sre_worker.py (``gated``: 3 retries,
``gated_once``: none, ``gated_fail``: 3 retries, asks for one at once),
writing to a ledger on a separate Redis server, plus:

- ``--signing-key HEX``: the Engine signs and checks payloads;
- ``--max-bytes N``: the Engine's PayloadLimits.max_bytes;
- ``--periodic NAME:SECONDS[:MAX_RETRIES]``: a periodic task NAME that writes
  ``run NAME <at> <pid>`` (repeatable);
- ``--no-gated``: without the gated tasks (a version that does not know them).

Ledger lines: ``<event> <task> <token> <pid>``; the process prints ``ready``
once its workers run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime, timedelta, timezone

import redis

from spinach import Engine, RedisBroker, Tasks, signals
from spinach.exc import RetryException
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
    parser.add_argument("--signing-key", default=None)
    parser.add_argument("--max-bytes", type=int, default=None)
    parser.add_argument("--periodic", action="append", default=[])
    parser.add_argument("--no-gated", action="store_true")
    parser.add_argument("--debug-broker", action="store_true", help="log every failed call")
    parser.add_argument("--attempts", type=int, default=8, help="connection_attempts")
    args = parser.parse_args()

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s {PID} %(threadName)s %(name)s %(levelname)s %(message)s",
    )
    if args.debug_broker:
        logging.getLogger("spinach.broker.redis").setLevel(logging.DEBUG)
    ledger = redis.Redis.from_url(args.ledger_url, socket_timeout=None)

    def write(event: str, task: str, token: object) -> None:
        line = f"{event} {task} {token} {PID}"
        pipe = ledger.pipeline(transaction=False)
        pipe.rpush(args.ledger, line)
        pipe.rpush(f"{args.ledger}:events", line)
        pipe.execute()

    def gated_run(task: str, token: str) -> None:
        n = ledger.incr(f"{args.ledger}:runs:{task}:{token}")
        run = f"{token}#{n}"
        write("start", task, run)
        ledger.blpop([f"{args.ledger}:gate:{run}"], timeout=120)
        write("end", task, run)

    tasks = Tasks(queue=args.queue)
    if not args.no_gated:

        @tasks.task(name="gated", max_retries=3)
        def gated(token: str) -> None:
            gated_run("gated", token)

        @tasks.task(name="gated_once", max_retries=0)
        def gated_once(token: str) -> None:
            gated_run("gated_once", token)

        @tasks.task(name="gated_fail", max_retries=3)
        def gated_fail(token: str) -> None:
            gated_run("gated_fail", token)
            raise RetryException("try again at once", at=datetime.now(timezone.utc))

    for spec in args.periodic:
        name, seconds, *rest = spec.split(":")
        retries = int(rest[0]) if rest else 0

        def make(name: str) -> object:
            def tick() -> None:
                write("run", name, "-")

            return tick

        tasks.add(
            make(name),  # type: ignore[arg-type]
            name=name,
            periodicity=timedelta(seconds=float(seconds)),
            max_retries=retries,
        )

    @signals.job_failed.connect_via(args.namespace)
    def on_failed(namespace: str, job, err: BaseException, **kwargs: object) -> None:  # type: ignore[no-untyped-def]
        token = job.task_args[0] if job.task_args else "-"
        write(f"failed:{type(err).__name__}", job.task_name, token)

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if message.startswith("Started "):
                print("ready", flush=True)
            elif message.startswith("Worker ") and " is dead " in message:
                write("dead", "worker", message.split()[1])
            elif "was declared dead by another worker" in message:
                write("declared-dead", "worker", broker.id[:8])
            elif message.startswith("Set aside"):
                write("set-aside", "payload", "-")

    logging.getLogger("spinach").addHandler(Watch())

    broker = RedisBroker.from_url(
        args.url, broker_dead_threshold_seconds=args.threshold, connection_attempts=args.attempts
    )
    options: dict[str, object] = {}
    if args.signing_key:
        options["signing_key"] = bytes.fromhex(args.signing_key)
    if args.max_bytes:
        options["payload_limits"] = PayloadLimits(max_bytes=args.max_bytes)
    spin = Engine(broker, namespace=args.namespace, **options)  # type: ignore[arg-type]
    spin.attach_tasks(tasks)
    write("identity", "worker", broker.id[:8])
    spin.start_workers(number=args.threads, queue=args.queue)
    write("exit", "worker", "-")


if __name__ == "__main__":
    main()
