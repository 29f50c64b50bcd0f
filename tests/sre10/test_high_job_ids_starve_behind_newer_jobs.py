"""On Redis, a rate-limited job can wait for ever while newer jobs start: ties go by job id.

Failure: a job over the limit goes to the future jobs zset, scored by the
date the window should have room (rate_admits). Many waiting jobs get the
*same* date -- every fetch restarts the count of refused jobs at 0, so each
job that arrives while the window is full is given "oldest start + period"
(see test_waiting_jobs_all_come_back_at_once.py), and the k-th refused of
one fetch shares its date with the k-th of every other fetch. Redis orders
equal scores by member, and the member is the payload, which starts with
``{"id":"<job id>"``: move_future.lua queues the tied jobs *in job-id
order*, and the window admits the first ones. So among jobs due together the
lowest ids always win, and a job with a high id loses every tie.

Under a sustained load at the limit (two new calls per period for "2 per
10 s", each fetched and refused as it arrives), a job whose id sorts last is
refused at every opening, behind jobs enqueued after it, for as long as the
load lasts. Job ids are random UUIDs: about one job in sixteen starts with
``f``. The MemoryBroker breaks ties by insertion order (its heap holds a
sequence number), so it runs the same scenario FIFO: the two brokers differ.

Impact: unbounded latency for an arbitrary subset of jobs of a rate-limited
task (the ones with high ids), while the dashboards show the task "running
at its limit"; a job enqueued first can be the last to run, hours later, and
a caller waiting for its result times out. Order of a queue, which Spinach
otherwise keeps FIFO, is lost for rate-limited tasks on Redis only.

Suggested fix: date the waiting jobs by their rank in the backlog (a per-task
"next free slot" counter, or a per-task list of waiting jobs admitted in
FIFO order), so that no two jobs share a date beyond the window's room; and
when ties remain, keep a sequence in the score (or in a prefix of the
member) instead of relying on the payload's byte order.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from spinach.job import JobStatus
from spinach.task import Task

sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))
from helpers import make_job

MOST, PERIOD = 2, 10.0


def _job(clock, n, first_digit):
    job = make_job(clock, "api", args=(n,))
    job.id = uuid.UUID(hex=first_digit + uuid.uuid4().hex[1:])
    return job


def _run_due(broker, started):
    """What an arbiter does when a job is due: move it, fetch for its free slots."""
    broker.move_future_jobs()
    jobs = broker.get_jobs_from_queue("q", 8)
    for job in jobs:
        job.status = JobStatus.SUCCEEDED
        started.append(job.task_args[0])
    broker.acknowledge(jobs)


def test_a_job_enqueued_first_is_not_passed_for_ever_by_newer_ones(backend, clock):
    broker = backend.broker()
    broker.start()
    broker.set_concurrency_keys(
        [Task(lambda n: None, "api", "q", 0, None, None, rate_limit=(MOST, PERIOD))]
    )
    started: list[int] = []
    # Two start at once, then the victim (id f...) and one more have to wait.
    broker.enqueue_jobs([_job(clock, n, "0") for n in (0, 1)])
    _run_due(broker, started)
    victim = _job(clock, 2, "f")
    broker.enqueue_jobs([victim, _job(clock, 3, "1")])
    _run_due(broker, started)
    assert started == [0, 1]

    # A load of exactly the limit: two new calls per period, each fetched and
    # refused as it arrives, half a second before the window opens.
    n = 4
    for _ in range(10):
        clock.advance(PERIOD - 0.5)
        for _ in range(MOST):
            broker.enqueue_jobs([_job(clock, n, "1")])
            _run_due(broker, started)
            n += 1
        clock.advance(0.5 + 0.001)
        _run_due(broker, started)

    position = started.index(2) if 2 in started else None
    assert position is not None and position <= 2 * MOST, (
        f"the job enqueued third (id {victim.id_hex[:8]}...) has not started after 10 "
        f"periods; {len(started)} jobs started, in this order: {started}"
    )
