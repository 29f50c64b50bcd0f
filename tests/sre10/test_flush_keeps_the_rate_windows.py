"""On Redis, flush() leaves the rate windows: a wiped namespace still refuses jobs a period.

Failure: ``RedisBroker.flush`` deletes the keys it finds through its
registries (queues, workers, concurrency limits, unique keys, failed
jobs...), but nothing registers the windows of the rate limits
(``{ns}:rate:<task>``, a zset of ``<date>:<job id>``): they survive the
flush, with their PEXPIRE of one period + 1 s. The first jobs of the task
after the flush are refused by the starts of jobs that no longer exist, and
wait in the future jobs until those leave the window: up to a whole period
(one hour for "10/h", a day for "1/d", up to the 30 days the option allows).
The MemoryBroker forgets its windows with the namespace, so the two brokers
differ, and the windows also keep job ids of the wiped namespace readable.

Impact: the operator's "reset the namespace" step (after an incident, in a
staging environment reused by the test suite, in a blue/green switch with
the same namespace) does not reset rate-limited tasks: they start at most
"what is left of the old window", and the first jobs after the flush show
up as waiting for hours for no visible reason (no job runs, no worker holds
anything). Test suites that flush between tests see limits leak from one
test into the next.

Suggested fix: register the rate-limited tasks (a set ``{ns}:rates``,
SADD'ed when a window is created, as ``{ns}:queues`` is for queues) and have
flush delete their windows.
"""

from __future__ import annotations

import sys
from pathlib import Path

from spinach.job import JobStatus
from spinach.task import Task

sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))
from helpers import make_job

DAY = 86400.0


def _worker(backend):
    broker = backend.broker()
    broker.start()
    broker.set_concurrency_keys(
        [Task(lambda n: None, "report", "q", 0, None, None, rate_limit=(1, DAY))]
    )
    return broker


def test_a_flushed_namespace_does_not_remember_the_starts_of_its_jobs(backend, clock):
    old = _worker(backend)
    old.enqueue_jobs([make_job(clock, "report", args=(1,))])
    jobs = old.get_jobs_from_queue("q", 1)
    for job in jobs:
        job.status = JobStatus.SUCCEEDED
    old.acknowledge(jobs)
    old.flush()  # the namespace is reset: nothing of it is left
    old.stop()

    clock.advance(5)
    fresh = _worker(backend)  # a new deployment on the same namespace
    fresh.enqueue_jobs([make_job(clock, "report", args=(2,))])
    started = fresh.get_jobs_from_queue("q", 1)
    assert [job.task_args for job in started] == [(2,)], (
        f"the first job after flush() does not start: {fresh.future_jobs_count()} job(s) "
        "wait in the future jobs, refused by the start of a job of the flushed namespace, "
        f"for up to {DAY:.0f} s"
    )
