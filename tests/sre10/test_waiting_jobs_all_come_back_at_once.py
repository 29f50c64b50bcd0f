"""Jobs over a rate limit are all given the same date: each window opening moves the whole backlog.

Failure: rate_admits (and MemoryBroker._rate_wait) date a refused job by
the k-th oldest start in the window, k being its rank among the jobs refused
*in this fetch*: the count restarts at 0 in every fetch. The first job
refused by each fetch is given "oldest start + period", the same date as the
first one refused by every other fetch. Jobs of a busy task arrive one or a
few at a time (the arbiter fetches on each enqueue notification), and a
fetch looks at 100 payloads at most (budget), so a backlog of B jobs over
the limit collects ~B jobs on the first few dates. When a date comes, all of
them go back to the queue (move_future), are fetched, the few that fit start
and the rest are dated again, and again.

Measured here (limit 10 per minute, jobs arriving five a second, a worker
with 8 slots, fetching until its queue is empty): 300 jobs cost 4,833
payloads fetched on Redis (16 per job; 1,046 on the MemoryBroker), and the
first opening moves 290 waiting jobs back to the queue where 10 fit. With
1,000 jobs arriving over the same minute: 38,965 on Redis (39 per job),
27,477 in memory, 612 jobs moved at one opening: the cost per job grows with
the backlog (quadratic overall). Each bounce is an LPOP, a ZADD to
the future jobs, an HSET + EXPIRE of the record of a tracked job, a ZRANGE
in the window, a ZRANGEBYSCORE/ZREM and an RPUSH in move_future, and a
notification to every worker.

Impact: a storm exactly when the limit matters (a backlog behind a slow
external API): with "100/s" and a backlog of 100k jobs, Redis moves tens of
thousands of payloads every second for nothing, its CPU is pegged, every
worker of the namespace is woken for each opening, and jobs of other tasks
queued behind the bounced ones wait for the fetches to wade through them.

Suggested fix: date a refused job by its rank in the task's whole backlog
(keep a per-task "next free slot" or the count of waiting jobs in Redis), so
that at most ``most`` waiting jobs share a period and each job waits once;
or keep the waiting jobs in a per-task list that the window admits from.
"""

from __future__ import annotations

import sys
from pathlib import Path

from spinach.job import JobStatus
from spinach.task import Task

sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))
from helpers import make_job


def _worker(backend, most, period):
    broker = backend.broker()
    broker.start()
    broker.set_concurrency_keys(
        [Task(lambda n: None, "api", "q", 0, None, None, rate_limit=(most, period))]
    )
    return broker


def _drain(broker, started):
    """Fetch until the queue is empty, as the arbiter does; return the payloads it looked at."""
    looked = 0
    while broker.queue_length("q"):
        before = broker.queue_length("q")
        jobs = broker.get_jobs_from_queue("q", 8)
        looked += before - broker.queue_length("q")
        for job in jobs:
            job.status = JobStatus.SUCCEEDED
            started.append(job.task_args[0])
        broker.acknowledge(jobs)
    return looked


def test_two_jobs_refused_by_two_fetches_are_not_given_the_same_date(backend, clock):
    broker = _worker(backend, 1, 60.0)
    started: list[int] = []
    broker.enqueue_jobs([make_job(clock, "api", args=(0,))])
    _drain(broker, started)  # job 0 starts: the window is full for a minute
    for n in (1, 2):  # two calls arrive, each fetched at once and refused
        clock.advance(1)
        broker.enqueue_jobs([make_job(clock, "api", args=(n,))])
        _drain(broker, started)
    clock.advance(60)  # one minute after job 0: room for exactly one job
    broker.move_future_jobs()
    looked = _drain(broker, started)
    assert started[1:] in ([1], [2])
    assert looked == 1, (
        f"{looked} waiting jobs came back to the queue when the window had room for one: "
        "job 2 was given the date of job 1, and is refused and dated again"
    )


def test_a_backlog_over_the_limit_bounces_quadratically(backend, clock):
    broker = _worker(backend, 10, 60.0)
    started: list[int] = []
    jobs = 300
    looked = 0
    for n in range(jobs):  # four calls a second, fetched as they come
        broker.enqueue_jobs([make_job(clock, "api", args=(n,))])
        looked += _drain(broker, started)
        clock.advance(0.25)  # exact in binary: every job is due when enqueued
    largest = 0
    for _ in range(100_000):
        if len(started) == jobs:
            break
        broker.move_future_jobs()
        moved = _drain(broker, started)
        looked += moved
        largest = max(largest, moved)
        due = broker.move_future_jobs()  # the arbiter's next wake-up (time passes: 1 ms)
        if broker.queue_length("q") == 0 and len(started) < jobs:
            assert due is not None, f"{jobs - len(started)} jobs neither queued nor waiting"
            clock.advance(max(0.0, due - clock.time()))
        clock.advance(0.001)
    assert looked <= 3 * jobs and largest <= 3 * 10, (
        f"{jobs} jobs at 10 per minute: the workers fetched {looked} payloads "
        f"({looked / jobs:.1f} per job), and one opening of the window moved {largest} "
        "waiting jobs back to the queue where 10 could start"
    )
