"""Processes fork: an Engine built in a parent, used by its children (issue 11).

gunicorn ``--preload``, uWSGI and ``multiprocessing`` build the application,
Spinach's Engine included, in a parent process and fork the children that
use it.  Whatever identifies a process must be renewed in each child, or the
children take each other's work for their own.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from spinach import Batch, Engine, JobStatus, RedisBroker, Tasks, signals
from spinach.job import Job

pytestmark = pytest.mark.redis

THRESHOLD = 3.0  # broker_dead_threshold_seconds of the workers of these tests
CHILDREN = 4
PER_CHILD = 25


class Child:
    """A process forked from the test process, running ``target`` and exiting.

    ``method`` is ``"os.fork"`` (a bare fork, as prefork servers do) or
    ``"multiprocessing"`` (the ``fork`` context of multiprocessing).  The
    child exits with 0 if ``target`` returned, 1 if it raised (traceback on
    stderr); it never returns into the test.
    """

    def __init__(self, target: Callable[[], None], method: str, name: str) -> None:
        self.method = method
        self._process: multiprocessing.process.BaseProcess | None = None
        if method == "multiprocessing":
            self._process = multiprocessing.get_context("fork").Process(target=target, name=name)
            self._process.start()
            assert self._process.pid is not None
            self.pid = self._process.pid
            return
        assert method == "os.fork"
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                target()
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        self.pid = pid
        self._pidfd = os.pidfd_open(pid)  # readable once the child has ended
        self._exitcode: int | None = None

    def wait(self, timeout: float) -> int | None:
        """Exit code (negative: killed by that signal), or None if still running after timeout."""
        if self._process is not None:
            self._process.join(timeout)
            return self._process.exitcode
        if self._exitcode is None:
            ready, _, _ = select.select([self._pidfd], [], [], timeout)
            if not ready:
                return None
            _, status = os.waitpid(self.pid, 0)
            self._exitcode = os.waitstatus_to_exitcode(status)
            os.close(self._pidfd)
        return self._exitcode

    def kill(self) -> None:
        if self.wait(0) is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait(30)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    """Children forked by the test; any still running at the end is killed."""
    forked: list[Child] = []
    yield forked
    for child in forked:
        child.kill()


def _queued_tokens(broker: RedisBroker, queue: str = "spinach") -> list[int]:
    payloads = broker.redis.lrange(broker.keys.queue(queue), 0, -1)
    return sorted(Job.deserialize(payload).task_args[0] for payload in payloads)


def _schedule_one_by_one(spin: Engine, tokens: range, threads: int) -> Callable[[], None]:
    """What a child does: schedule ``tokens`` one by one, from ``threads`` threads."""

    def schedule(part: range) -> None:
        for n in part:
            job = spin.schedule("record", n)
            assert job.status is JobStatus.QUEUED, job

    def run() -> None:
        if threads == 1:
            schedule(tokens)
            return
        errors: list[BaseException] = []

        def guarded(part: range) -> None:
            try:
                schedule(part)
            except BaseException as exc:
                errors.append(exc)

        workers = [
            threading.Thread(target=guarded, args=(tokens[i::threads],), name=f"producer-{i}")
            for i in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if errors:
            raise errors[0]

    return run


@pytest.mark.parametrize(
    ("method", "threads"),
    [("os.fork", 1), ("multiprocessing", 1), ("os.fork", 2)],
    ids=["os.fork", "multiprocessing-fork", "os.fork-2-threads-per-child"],
)
def test_forked_producers_lose_no_job(workers, children, method, threads):
    spin = workers.engine()
    # The parent uses the engine before it forks, as an application
    # preloaded by gunicorn does at import time.
    assert spin.schedule("record", -1).status is JobStatus.QUEUED
    for i in range(CHILDREN):
        tokens = range(i * PER_CHILD, (i + 1) * PER_CHILD)
        target = _schedule_one_by_one(spin, tokens, threads)
        children.append(Child(target, method, name=f"producer-child-{i}"))
    codes = [child.wait(30) for child in children]
    assert codes == [0] * CHILDREN, "every schedule() of the children said QUEUED"

    expected = [-1, *range(CHILDREN * PER_CHILD)]
    queued = _queued_tokens(spin.broker)
    missing = sorted(set(expected) - set(queued))
    assert spin.broker.queue_length("spinach") == len(expected), (
        f"{len(missing)} of {len(expected)} jobs told QUEUED never existed: {missing}"
    )
    assert queued == expected


def test_forked_worker_processes_run_each_at_most_once_job_once(workers, children):
    """Children of one parent call start_workers() on the engine it built."""
    ledger, key, namespace = workers.ledger, workers.key, workers.namespace

    def write(line: str) -> None:
        pipe = ledger.pipeline(transaction=False)
        pipe.rpush(key, line)
        pipe.rpush(f"{key}:events", line)
        pipe.execute()

    tasks = Tasks()

    @tasks.task(name="record_once", max_retries=0)
    def record_once(n: int) -> None:
        time.sleep(0.1)  # stands for the job's work: jobs stay in flight across heartbeats
        write(f"run record_once {n} {os.getpid()}")

    def on_failed(sender: str, job: Job, err: BaseException, **kwargs: object) -> None:
        write(f"failed:{type(err).__name__} {job.task_name} {job.task_args} {os.getpid()}")

    def on_worker_started(sender: str, worker_name: str, **kwargs: object) -> None:
        write(f"started {worker_name} - {os.getpid()}")

    signals.job_failed.connect_via(namespace, weak=False)(on_failed)
    signals.worker_started.connect_via(namespace, weak=False)(on_worker_started)
    try:
        broker = RedisBroker.from_url(
            workers.broker_server.url, broker_dead_threshold_seconds=THRESHOLD
        )
        spin = Engine(broker, namespace=namespace)
        spin.attach_tasks(tasks)

        def serve() -> None:
            spin.start_workers(number=4)  # blocks; SIGTERM stops it gracefully

        for i in range(3):
            children.append(Child(serve, "os.fork", name=f"worker-child-{i}"))
        for _ in range(3 * 4):
            workers.wait_event(lambda e: e.startswith("started "))

        batch = Batch()
        for n in range(300):
            batch.schedule("record_once", n)
        workers.engine().schedule_batch(batch)
        seen: set[str] = set()
        while len(seen) < 300:
            event = workers.wait_event(lambda e: e.startswith(("run record_once ", "failed:")))
            assert not event.startswith("failed:"), event
            seen.add(event.split()[2])

        for child in children:
            os.kill(child.pid, signal.SIGTERM)
        codes = [child.wait(30) for child in children]
        assert codes == [0, 0, 0]
    finally:
        signals.job_failed.disconnect(on_failed)
        signals.worker_started.disconnect(on_worker_started)

    records = workers.records()
    runs = Counter(r.split()[2] for r in records if r.startswith("run record_once "))
    twice = sorted((int(token), count) for token, count in runs.items() if count > 1)
    assert not twice, f"{len(twice)} at-most-once jobs ran more than once: {twice}"
    assert sorted(int(token) for token in runs) == list(range(300))
    assert not [r for r in records if r.startswith("failed:")]
    check = workers.engine().broker
    assert check.is_queue_empty("spinach")
    assert check.running_jobs() == []
