"""Schedule one job from a process whose wall clock may be wrong, then exit.

    python producer_app.py --url REDIS_URL --namespace NS --at TIMESTAMP --skew SECONDS TASK TOKEN

``--at`` is the job's start date as a POSIX timestamp of the *true* clock;
``--skew`` shifts this process's ``time.time`` before Spinach is imported, as
on a machine whose clock is that many seconds ahead (negative: behind), the
same way as ``worker_app.py --skew``.  Prints the status of the scheduled job.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

true_time = time.time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--at", type=float, required=True)
    parser.add_argument("--skew", type=float, default=0.0)
    parser.add_argument("--max-retries", type=int, default=20)
    parser.add_argument("task")
    parser.add_argument("token")
    args = parser.parse_args()
    if args.skew:
        time.time = lambda: true_time() + args.skew

    from spinach import Engine, RedisBroker, Tasks  # after the clock is set

    tasks = Tasks()
    tasks.add(lambda token: None, name=args.task, max_retries=args.max_retries)
    spin = Engine(RedisBroker.from_url(args.url), namespace=args.namespace)
    spin.attach_tasks(tasks)
    job = spin.schedule_at(args.task, datetime.fromtimestamp(args.at, tz=timezone.utc), args.token)
    print(job.status.name, flush=True)


if __name__ == "__main__":
    main()
