"""A Spinach worker process for fault tests and chaos runs.

    python worker_app.py --url REDIS_URL --namespace NS --ledger-url URL --ledger KEY [options]

Every task writes what it does to a ledger on a *separate* Redis server, so
that faults injected into the broker's Redis never touch the evidence:
``RPUSH <ledger> "<event> <task> <token> <pid>"`` (the full record) and the
same line to ``<ledger>:events`` (consumed by tests waiting for an event).
Tasks that hold wait for ``RPUSH <ledger>:gate:<token> go`` on the ledger.
The process prints "ready" once its workers run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import random
import re
import sys
import time
from datetime import timedelta, timezone
from typing import Any, Callable

PID = os.getpid()
#: The machine's true clock, before --skew shifts ``time.time`` for the process.
true_time = time.time


def skew_clock(seconds: float) -> None:
    """Shift this process's wall clock (``time.time``), as on a badly synchronised machine.

    Done before Spinach is imported, so that every part of it sees the skewed
    clock, as it would on such a machine.  Tasks judge early starts with
    :data:`true_time`.
    """
    if seconds:
        time.time = lambda: true_time() + seconds


def _early_skew_from_argv() -> None:
    if "--skew" in sys.argv:
        skew_clock(float(sys.argv[sys.argv.index("--skew") + 1]))


_early_skew_from_argv()

import redis  # noqa: E402

from spinach import AsyncioWorkers, Engine, RedisBroker, Tasks, ThreadWorkers, signals  # noqa: E402
from spinach.cron import CronSchedule  # noqa: E402


class EverySeconds(CronSchedule):
    """A cron schedule ticking every few seconds, where cron's finest step is a minute.

    Planning ticks across worker processes is what the tests of this app
    prove, and it is the same whatever the schedule; the arithmetic of cron
    expressions (cronsim's) is proved by tests/contract/test_cron.py.
    """

    def __init__(self, seconds: float) -> None:  # no cron expression to parse
        self.seconds = seconds
        self.expression = f"every {seconds:g} s"
        self.zone = timezone.utc

    def next_after(self, timestamp: float) -> float:
        return (math.floor(timestamp / self.seconds) + 1) * self.seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--ledger-url", required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--queue", default="spinach")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--asyncio", action="store_true")
    parser.add_argument("--threshold", type=float, default=60.0)
    parser.add_argument(
        "--periodic",
        type=float,
        action="append",
        default=[],
        help="period in seconds of a periodic task 'tick_<period>'",
    )
    parser.add_argument(
        "--cron-every",
        type=float,
        action="append",
        default=[],
        help="seconds between the ticks of a cron task 'cron_<seconds>'",
    )
    parser.add_argument("--max-concurrency", type=int, default=2)
    parser.add_argument(
        "--skew",
        type=float,
        default=0.0,
        help="seconds this process's wall clock is ahead (negative: behind) of the true time",
    )
    parser.add_argument(
        "--work-ms",
        type=float,
        default=0.0,
        help="record tasks spend up to this long working (uniformly drawn)",
    )
    add_deploy_arguments(parser)
    add_chaos_arguments(parser)
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

    def hold_until_released(token: object) -> None:
        ledger.blpop([f"{args.ledger}:gate:{token}"], timeout=120)

    tasks = Tasks(queue=args.queue)

    @tasks.task(name="hold", max_retries=3)
    def hold(token: str) -> None:
        write("start", "hold", token)
        hold_until_released(token)
        write("end", "hold", token)

    @tasks.task(name="hold_once", max_retries=0)
    def hold_once(token: str) -> None:
        write("start", "hold_once", token)
        hold_until_released(token)
        write("end", "hold_once", token)

    @tasks.task(name="hold_unique", max_retries=0, unique=True)
    def hold_unique(token: str) -> None:
        write("start", "hold_unique", token)
        hold_until_released(token)
        write("end", "hold_unique", token)

    @tasks.task(name="hold_unique_retry", max_retries=3, unique=True)
    def hold_unique_retry(token: str) -> None:
        write("start", "hold_unique_retry", token)
        hold_until_released(token)
        write("end", "hold_unique_retry", token)

    # A rate-limited task: each start is written with this machine's clock.
    @tasks.task(name="rated", max_retries=20, rate_limit="5/s")
    def rated(n: int) -> None:
        write("rated_at", f"{true_time():.6f}", n)
        write("run", "rated", n)

    # The unique task of the chaos run (tests/support/chaos.py, same key).
    @tasks.task(name="unique_record", max_retries=20, unique=lambda n: f"k{n % 5}")
    def unique_record(n: int) -> None:
        time.sleep(work_time())
        write("run", "unique_record", n)

    def work_time() -> float:
        return random.uniform(0, args.work_ms / 1000)

    @tasks.task(name="record", max_retries=20)
    def record(n: int) -> None:
        time.sleep(work_time())  # stands for the job's work, not a synchronisation
        write("run", "record", n)

    @tasks.task(name="record_once", max_retries=0)
    def record_once(n: int) -> None:
        time.sleep(work_time())
        write("run", "record_once", n)

    @tasks.task(name="limited", max_retries=20, max_concurrency=args.max_concurrency)
    def limited(n: int) -> None:
        write("enter", "limited", n)
        ledger.blpop([f"{args.ledger}:never"], timeout=0.05)  # some work
        write("exit", "limited", n)

    # Tracked jobs: their records are checked against the ledger at the end.
    @tasks.task(name="tracked", max_retries=20, track=True, store_result=True)
    def tracked(n: int) -> int:
        time.sleep(work_time())
        write("run", "tracked", n)
        return n

    @tasks.task(name="tracked_once", max_retries=0, track=True)
    def tracked_once(n: int) -> None:
        time.sleep(work_time())
        write("run", "tracked_once", n)

    @tasks.task(name="arecord", max_retries=20)
    async def arecord(n: int) -> None:
        await asyncio.sleep(work_time())
        write("run", "arecord", n)

    add_deploy_tasks(tasks, args, write, ledger)

    for period in args.periodic:
        name = f"tick_{period:g}"

        def tick(name: str = name) -> None:
            write("tick", name, "-")

        tasks.add(tick, name=name, periodicity=timedelta(seconds=period))

    for seconds in args.cron_every:
        name = f"cron_{seconds:g}"

        def cron_tick(name: str = name) -> None:
            write("tick", name, "-")

        tasks.add(cron_tick, name=name, cron="* * * * *")
        tasks.tasks[name].cron = EverySeconds(seconds)

    @signals.job_started.connect_via(args.namespace)
    def on_started(namespace: str, job, **kwargs: object) -> None:  # type: ignore[no-untyped-def]
        if job.at_timestamp > true_time() + 0.001:  # 1 ms for the rounding of datetimes
            token = job.task_args[0] if job.task_args else "-"
            write("early", job.task_name, token)
        if job.task_name.startswith(("tick_", "cron_")):
            write("slot", job.task_name, f"{job.at_timestamp:.6f}")

    @signals.job_failed.connect_via(args.namespace)
    def on_failed(namespace: str, job, err: BaseException, **kwargs: object) -> None:  # type: ignore[no-untyped-def]
        token = job.task_args[0] if job.task_args else "-"
        write(f"failed:{type(err).__name__}", job.task_name, token)

    class Ready(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Started "):
                print("ready", flush=True)

    logging.getLogger("spinach.engine").addHandler(Ready())

    broker = RedisBroker.from_url(args.url, broker_dead_threshold_seconds=args.threshold)
    install_chaos(args, tasks, broker, ledger, write)
    spin = Engine(broker, namespace=args.namespace)
    spin.attach_tasks(tasks)
    spin.start_workers(
        number=args.threads,
        queue=args.queue,
        workers_class=AsyncioWorkers if args.asyncio else ThreadWorkers,
    )
    write("exit", "worker", "-")


# -- Scenarios of issue 11 (deploys, subprocesses of tasks, stop signals) ------
# Self-contained: main() calls add_deploy_arguments() and add_deploy_tasks().


def add_deploy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--version",
        type=int,
        choices=(1, 2),
        default=1,
        help="code version: 2 adds the tasks new_task (max_retries=3) and new_task_once (0)",
    )
    parser.add_argument(
        "--signal-events",
        action="store_true",
        help="send the event 'signal worker <SIGNAME> <pid>' once a stop signal is handled "
        "(a round trip to the ledger on the way to stopping: off by default)",
    )


def add_deploy_tasks(tasks: Tasks, args: argparse.Namespace, write: Any, ledger: Any) -> None:
    """Tasks of the scenarios of issue 11, and the 'signal' event of a stopping worker."""
    import task_children  # next to this file, shared with the in-process tests

    if args.version >= 2:

        @tasks.task(name="new_task", max_retries=3)
        def new_task(token: str) -> None:
            write("run", "new_task", token)

        @tasks.task(name="new_task_once", max_retries=0)
        def new_task_once(token: str) -> None:
            write("run", "new_task_once", token)

    # A task terminates a process of its own; the ledger says how it ended:
    # "child terminate_child <kind>:<how> <pid>" (see task_children.py).
    @tasks.task(name="terminate_child", max_retries=0)
    def terminate_child(kind: str) -> None:
        how = task_children.pool_terminate() if kind == "pool" else task_children.popen_terminate()
        write("child", "terminate_child", f"{kind}:{how}")

    @tasks.task(name="aterminate_child", max_retries=0)
    async def aterminate_child(kind: str) -> None:
        how = await task_children.asyncio_terminate()
        write("child", "aterminate_child", f"{kind}:{how}")

    class Stopping(logging.Handler):
        """Sends the event "signal worker <SIGNAME> <pid>" once the engine handled a stop signal.

        An event to wait for only, kept out of the full record, whose order
        other tests check.
        """

        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if message.startswith("Received SIG"):
                signame = message.split()[1].rstrip(":")
                ledger.rpush(f"{args.ledger}:events", f"signal worker {signame} {PID}")

    if args.signal_events:
        logging.getLogger("spinach.engine").addHandler(Stopping())


# -- For scripts/chaos: long jobs, and the records its checks need ---------------
# (one block, so that other changes to this file stay apart from it)


def add_chaos_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chaos-records",
        action="store_true",
        help="also record this worker's broker id, the workers it declares dead, and the "
        "true start time of each job started before its date (for scripts/chaos)",
    )


def install_chaos(
    args: argparse.Namespace,
    tasks: Tasks,
    broker: RedisBroker,
    ledger: redis.Redis,
    write: Callable[[str, str, object], None],
) -> None:
    """Add the long tasks; with ``--chaos-records``, write the extra records.

    ``long``/``long_once`` (n, seconds) work for ``seconds``, waiting on the
    ledger, between their "start" and "end" records.  The extra records:

    - ``identity worker <broker id[:8]> <pid>``, once the workers run;
    - ``dead worker <broker id[:8]> <pid>`` each time this worker declares
      another one dead (read from the broker's log line, which names it);
    - on ``<ledger>:early``, ``<task> <token> <job date> <true start> <pid>``
      for each job starting before the date in its payload by the true
      clock, so that the harness judges early starts against the dates it
      scheduled, not against a date of "now" set by a skewed process.
    """

    def work_for(seconds: float) -> None:
        ledger.blpop([f"{args.ledger}:never"], timeout=seconds)  # the job's work

    @tasks.task(name="long", max_retries=3)
    def long(n: int, seconds: float) -> None:
        write("start", "long", n)
        work_for(seconds)
        write("end", "long", n)

    @tasks.task(name="long_once", max_retries=0)
    def long_once(n: int, seconds: float) -> None:
        write("start", "long_once", n)
        work_for(seconds)
        write("end", "long_once", n)

    if not args.chaos_records:
        return

    class Identity(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Started "):  # the broker's id is final
                write("identity", "worker", broker.id[:8])

    logging.getLogger("spinach.engine").addHandler(Identity())

    class DeathWatch(logging.Handler):
        pattern = re.compile(r"^Worker (\w+) of namespace .* is dead\b")

        def emit(self, record: logging.LogRecord) -> None:
            match = self.pattern.match(record.getMessage())
            if match:
                write("dead", "worker", match.group(1)[:8])

    logging.getLogger("spinach").addHandler(DeathWatch())

    def on_started(namespace: str, job, **kwargs: object) -> None:  # type: ignore[no-untyped-def]
        now = true_time()
        if job.at_timestamp > now + 0.001:
            token = job.task_args[0] if job.task_args else "-"
            line = f"{job.task_name} {token} {job.at_timestamp!r} {now!r} {PID}"
            ledger.rpush(f"{args.ledger}:early", line)

    signals.job_started.connect(on_started, sender=args.namespace, weak=False)


if __name__ == "__main__":
    main()
