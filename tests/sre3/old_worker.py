"""A worker of the previous version (commit fe71170) for tests/sre3.

Run with PYTHONPATH pointing at that version's sources (see
test_old_worker_records.py).  Same command line and ledger as
sre3_worker.py; its ``once`` task knows nothing of records: that version
has no ``track`` option.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import redis

import spinach
from spinach import Engine, Tasks
from spinach.brokers.redis import RedisBroker

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
    args, _ = parser.parse_known_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    ledger = redis.Redis.from_url(args.ledger_url, socket_timeout=None)

    def write(event: str, task: str, token: object) -> None:
        line = f"{event} {task} {token} {PID}"
        ledger.rpush(args.ledger, line)
        ledger.rpush(f"{args.ledger}:events", line)

    tasks = Tasks(queue=args.queue)

    @tasks.task(name="once", max_retries=3)
    def once(token: str) -> None:
        write("run", "once", token)

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Started "):
                print("ready", flush=True)

    logging.getLogger("spinach").addHandler(Watch())
    broker = RedisBroker.from_url(args.url, broker_dead_threshold_seconds=args.threshold)
    spin = Engine(broker, namespace=args.namespace)
    spin.attach_tasks(tasks)
    write("identity", "worker", spinach.__file__)
    spin.start_workers(number=args.threads, queue=args.queue)


if __name__ == "__main__":
    main()
