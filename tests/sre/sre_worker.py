"""A Spinach worker process for the SRE review tests (tests/sre).

    python sre_worker.py --url REDIS_URL --namespace NS --ledger-url URL --ledger KEY [options]

Like tests/faults/worker_app.py, every task writes what it does to a ledger
on a *separate* Redis server: ``RPUSH <ledger> "<event> <task> <token> <pid>"``
and the same line on ``<ledger>:events``.

Gated tasks number their runs: run ``n`` of token ``t`` writes
``start <task> t#n``, waits for ``RPUSH <ledger>:gate:t#n go`` and writes
``end <task> t#n``; so a test releases one run of a job, not any.

The process's wall clock (``time.time``) can be stepped while it runs, the way
NTP or a VM resume steps a machine's clock: ``RPUSH <ledger>:cmd:<pid> "step -30"``.
The step is applied before Spinach is imported, so every part of it sees the
stepped clock, as on such a machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from datetime import datetime, timezone

PID = os.getpid()
true_time = time.time
_offset = [0.0]
time.time = lambda: true_time() + _offset[0]

import redis  # noqa: E402

from spinach import Engine, RedisBroker, Tasks, signals  # noqa: E402
from spinach.exc import RetryException  # noqa: E402


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

    def gated_run(task: str, token: str) -> None:
        n = ledger.incr(f"{args.ledger}:runs:{task}:{token}")
        run = f"{token}#{n}"
        write("start", task, run)
        ledger.blpop([f"{args.ledger}:gate:{run}"], timeout=120)
        write("end", task, run)

    tasks = Tasks(queue=args.queue)

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

    @tasks.task(name="gated_limited", max_retries=3, max_concurrency=1)
    def gated_limited(token: str) -> None:
        gated_run("gated_limited", token)

    if args.version >= 2:

        @tasks.task(name="new_once", max_retries=0)
        def new_once(token: str) -> None:
            write("run", "new_once", token)

    @signals.job_failed.connect_via(args.namespace)
    def on_failed(namespace: str, job, err: BaseException, **kwargs: object) -> None:  # type: ignore[no-untyped-def]
        token = job.task_args[0] if job.task_args else "-"
        write(f"failed:{type(err).__name__}", job.task_name, token)

    @signals.job_schedule_retry.connect_via(args.namespace)
    def on_retry(namespace: str, job, err: BaseException, **kwargs: object) -> None:  # type: ignore[no-untyped-def]
        token = job.task_args[0] if job.task_args else "-"
        write("retry", job.task_name, token)

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if message.startswith("Started "):
                print("ready", flush=True)
            elif message.startswith("Worker ") and " is dead " in message:
                write("dead", "worker", message.split()[1])
            elif "was declared dead by another worker" in message:
                write("declared-dead", "worker", broker.id[:8])

    logging.getLogger("spinach").addHandler(Watch())

    def commands() -> None:
        while True:
            _, raw = ledger.blpop([f"{args.ledger}:cmd:{PID}"])
            verb, value = raw.decode().split()
            if verb == "step":
                _offset[0] += float(value)
                write("stepped", "clock", value)

    threading.Thread(target=commands, daemon=True).start()

    broker = RedisBroker.from_url(args.url, broker_dead_threshold_seconds=args.threshold)
    spin = Engine(broker, namespace=args.namespace)
    spin.attach_tasks(tasks)
    write("identity", "worker", broker.id[:8])
    spin.start_workers(number=args.threads, queue=args.queue)
    write("exit", "worker", "-")


if __name__ == "__main__":
    main()
