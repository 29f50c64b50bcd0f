"""Contract: a worker serving several queues takes from them in strict priority order."""

from __future__ import annotations

from .helpers import make_job, make_task

QUEUES = ["high", "default", "low"]


def fill(broker, clock, counts):
    jobs = []
    for queue, count in counts.items():
        for i in range(count):
            jobs.append(make_job(clock, task_name=f"{queue}{i}", queue=queue))
    broker.enqueue_jobs(jobs)


def names(jobs):
    return [job.task_name for job in jobs]


def test_queues_are_served_in_priority_order(broker, clock):
    fill(broker, clock, {"low": 5, "default": 2, "high": 2})
    assert names(broker.get_jobs_from_queue(QUEUES, 5)) == [
        "high0", "high1", "default0", "default1", "low0",
    ]  # fmt: skip
    assert names(broker.get_jobs_from_queue(QUEUES, 10)) == ["low1", "low2", "low3", "low4"]
    assert broker.is_queue_empty(QUEUES)


def test_a_later_queue_waits_while_an_earlier_one_has_jobs(broker, clock):
    fill(broker, clock, {"low": 3, "high": 3})
    assert names(broker.get_jobs_from_queue(QUEUES, 2)) == ["high0", "high1"]
    fill(broker, clock, {"default": 1})
    assert names(broker.get_jobs_from_queue(QUEUES, 2)) == ["high2", "default0"]
    assert not broker.is_queue_empty(QUEUES)
    assert broker.is_queue_empty(["high", "default"])


def test_acknowledge_and_fetch_serves_the_queues_in_order_in_one_call(broker, clock):
    fill(broker, clock, {"low": 2, "high": 1})
    [first] = broker.get_jobs_from_queue(QUEUES, 1)
    assert first.task_name == "high0"
    fill(broker, clock, {"default": 1})
    from spinach.job import JobStatus

    first.status = JobStatus.SUCCEEDED
    assert names(broker.acknowledge_and_fetch([first], QUEUES, 2)) == ["default0", "low0"]
    assert broker.running_jobs() and len(broker.running_jobs()) == 2


def test_jobs_held_back_by_a_concurrency_limit_let_the_next_queue_through(broker, clock):
    broker.set_concurrency_keys(
        [make_task("limited", queue="high", max_retries=1, max_concurrency=1)]
    )
    jobs = [make_job(clock, task_name="limited", queue="high", max_retries=1) for _ in range(3)]
    broker.enqueue_jobs(jobs)
    fill(broker, clock, {"low": 2})
    assert names(broker.get_jobs_from_queue(QUEUES, 3)) == ["limited", "low0", "low1"]


def test_one_name_in_a_list_is_the_queue_itself(broker, clock):
    fill(broker, clock, {"high": 2})
    assert names(broker.get_jobs_from_queue(["high"], 5)) == ["high0", "high1"]
