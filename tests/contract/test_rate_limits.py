"""Contract: rate limits.

A task with a rate limit starts at most N jobs per sliding period across
every worker of the namespace. Jobs over the limit wait in the broker with
the future jobs, due when the window has room, and start then; jobs of
other tasks pass them by. Each worker enforces the limits it knows (those
of the tasks it declared with ``set_concurrency_keys``).
"""

from __future__ import annotations

from spinach.job import JobStatus
from spinach.task import Task

from .helpers import heartbeat_for, make_job


def rate_task(name: str = "api", most: int = 3, period: float = 60.0, **options) -> Task:
    return Task(lambda n: None, name, "q", options.pop("max_retries", 0), None,
                options.pop("max_concurrency", None), rate_limit=(most, period))  # fmt: skip


def worker(backend, *tasks, **options):
    broker = backend.broker(**options)
    broker.start()
    broker.set_concurrency_keys(list(tasks) or [rate_task()])
    return broker


def done(broker, jobs):
    for job in jobs:
        job.status = JobStatus.SUCCEEDED
    broker.acknowledge(jobs)


def test_at_most_n_jobs_start_per_period_the_others_wait(backend, clock):
    broker = worker(backend)
    broker.enqueue_jobs([make_job(clock, "api", args=(n,)) for n in range(5)])
    first = broker.get_jobs_from_queue("q", 10)
    assert [job.task_args[0] for job in first] == [0, 1, 2]
    assert broker.queue_length("q") == 0 and broker.future_jobs_count() == 2
    done(broker, first)

    clock.advance(59)
    broker.move_future_jobs()
    assert broker.get_jobs_from_queue("q", 10) == []  # the window is still full
    clock.advance(1.5)
    broker.move_future_jobs()
    later = broker.get_jobs_from_queue("q", 10)
    assert sorted(job.task_args[0] for job in later) == [3, 4]


def test_workers_are_told_of_the_jobs_made_to_wait(backend, clock, wait_until):
    # So that their arbiters plan to move them when due, not at the next heartbeat.
    broker = worker(backend, rate_task(most=1))
    broker.enqueue_jobs([make_job(clock, "api", args=(n,)) for n in range(2)])
    broker.consume_future_changed()
    assert len(broker.get_jobs_from_queue("q", 10)) == 1
    wait_until(broker.consume_future_changed, timeout=10, what="told of the waiting job")


def test_the_window_slides(backend, clock):
    broker = worker(backend, rate_task(most=2, period=10))
    broker.enqueue_jobs([make_job(clock, "api", args=(n,)) for n in range(2)])
    assert len(broker.get_jobs_from_queue("q", 10)) == 1 + 1
    clock.advance(6)
    broker.enqueue_jobs([make_job(clock, "api", args=(n,)) for n in range(2, 4)])
    assert broker.get_jobs_from_queue("q", 10) == []
    clock.advance(4.5)  # the first two starts left the window, not those 6 s later
    broker.move_future_jobs()
    assert len(broker.get_jobs_from_queue("q", 10)) == 2


def test_the_limit_holds_across_workers(backend, clock):
    one, two = worker(backend), worker(backend)
    one.enqueue_jobs([make_job(clock, "api", args=(n,)) for n in range(6)])
    assert len(one.get_jobs_from_queue("q", 2)) == 2
    assert len(two.get_jobs_from_queue("q", 10)) == 1
    assert one.get_jobs_from_queue("q", 10) == []
    assert one.future_jobs_count() == 3


def test_other_tasks_pass_jobs_over_the_limit(backend, clock):
    broker = worker(backend, rate_task(most=1))
    jobs = [make_job(clock, "api", args=(n,)) for n in range(3)]
    jobs.append(make_job(clock, "other"))
    broker.enqueue_jobs(jobs)
    fetched = broker.get_jobs_from_queue("q", 10)
    assert sorted(job.task_name for job in fetched) == ["api", "other"]


def test_a_waiting_job_is_recorded_as_waiting(backend, clock):
    broker = worker(backend, rate_task(most=1))
    first, second = make_job(clock, "api", args=(1,)), make_job(clock, "api", args=(2,))
    for job in (first, second):
        job.track = 600
    broker.enqueue_jobs([first, second])
    assert len(broker.get_jobs_from_queue("q", 10)) == 1
    assert broker.get_job(second.id_hex).status is JobStatus.WAITING
    assert broker.get_job(first.id_hex).status is JobStatus.RUNNING


def test_rate_limit_and_max_concurrency_combine(backend, clock):
    task = rate_task(most=2, max_retries=1, max_concurrency=1)
    broker = worker(backend, task)
    broker.enqueue_jobs([make_job(clock, "api", args=(n,), max_retries=1) for n in range(3)])
    [first] = broker.get_jobs_from_queue("q", 10)  # the others are parked by the limit of 1
    done(broker, [first])
    [second] = broker.get_jobs_from_queue("q", 10)
    done(broker, [second])
    assert broker.get_jobs_from_queue("q", 10) == []  # 2 per minute: the third waits
    assert broker.future_jobs_count() == 1
    clock.advance(61)
    broker.move_future_jobs()
    [third] = broker.get_jobs_from_queue("q", 10)  # and it takes the concurrency slot
    assert third.task_args not in (first.task_args, second.task_args)
    assert broker.get_jobs_from_queue("q", 10) == []


def test_starts_of_a_dead_worker_hold_the_window_one_period_at_most(backend, clock):
    dead = worker(backend, broker_dead_threshold_seconds=10)
    live = worker(backend, broker_dead_threshold_seconds=10)
    dead.enqueue_jobs([make_job(clock, "api", args=(n,)) for n in range(6)])
    assert len(dead.get_jobs_from_queue("q", 10)) == 3  # then its process is killed
    heartbeat_for(62, clock, live)
    live.move_future_jobs()
    assert len(live.get_jobs_from_queue("q", 10)) == 3


def test_a_worker_without_rate_limits_pays_nothing_and_limits_nothing(backend, clock):
    broker = worker(backend, Task(lambda n: None, "api", "q", 0, None, None))
    broker.enqueue_jobs([make_job(clock, "api", args=(n,)) for n in range(5)])
    assert len(broker.get_jobs_from_queue("q", 10)) == 5
