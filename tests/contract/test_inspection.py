"""Contract: inspection reads the same state on every broker, a page at a time."""

from __future__ import annotations

import pytest

from spinach.inspection import Inspector
from spinach.job import JobStatus

from .helpers import make_job


def names(jobs):
    return [job.task_args[0] for job in jobs]


def test_queues_their_length_and_oldest_job(broker, clock):
    inspect = Inspector(broker)
    assert inspect.queues() == []
    first = make_job(clock, queue="emails", args=(0,))
    broker.enqueue_jobs([first])
    clock.advance(30)
    broker.enqueue_jobs([make_job(clock, queue="emails", args=(1,)), make_job(clock, args=(2,))])
    clock.advance(5)

    emails, q = inspect.queues()
    assert (emails.name, emails.length, q.name, q.length) == ("emails", 2, "q", 1)
    assert emails.oldest_at == first.at
    assert emails.oldest_age == pytest.approx(35, abs=0.01)
    assert q.oldest_age == pytest.approx(5, abs=0.01)
    empty = inspect.queue("never-used")
    assert (empty.length, empty.oldest_at, empty.oldest_age) == (0, None, 0.0)


def test_a_queue_is_listed_a_page_at_a_time_next_to_run_first(broker, clock):
    broker.enqueue_jobs([make_job(clock, args=(n,)) for n in range(250)])
    inspect = Inspector(broker)
    assert names(inspect.jobs("q", 0, 100)) == list(range(100))
    assert names(inspect.jobs("q", 200, 100)) == list(range(200, 250))
    assert inspect.jobs("q", 300, 100) == []
    assert all(job.status is JobStatus.QUEUED for job in inspect.jobs("q", 0, 5))
    broker.get_jobs_from_queue("q", 10)  # taken: no longer waiting
    assert names(inspect.jobs("q", 0, 1)) == [10]


def test_future_jobs_soonest_first(broker, clock):
    inspect = Inspector(broker)
    assert (inspect.future().count, inspect.future().next_due) == (0, None)
    later, soon = (
        make_job(clock, delay=600, args=("later",)),
        make_job(clock, delay=60, args=("soon",)),
    )
    broker.enqueue_jobs([later, soon, make_job(clock, delay=300, args=("middle",))])
    summary = inspect.future()
    assert (summary.count, summary.next_due) == (3, soon.at)
    assert names(inspect.future_jobs(0, 10)) == ["soon", "middle", "later"]
    assert names(inspect.future_jobs(1, 1)) == ["middle"]
    assert all(job.status is JobStatus.WAITING for job in inspect.future_jobs())


def test_workers_their_queues_and_running_jobs(backend, clock):
    high = backend.broker()
    high.start(["high", "low"])
    other = backend.broker()
    other.start("q")
    other.enqueue_jobs([make_job(clock, args=(n,)) for n in range(3)])
    other.get_jobs_from_queue("q", 2)

    found = {w.id: w for w in Inspector(other).workers()}
    assert set(found) == {high.id, other.id}
    assert found[high.id].queues == ("high", "low")
    assert (found[other.id].queues, found[other.id].running) == (("q",), 2)
    assert found[high.id].running == 0
    worker = found[other.id]
    assert worker.host and worker.pid and worker.version
    assert worker.started_at is not None and worker.last_heartbeat is not None
