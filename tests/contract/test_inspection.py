"""Contract: inspection reads the same state on every broker, a page at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from spinach.cron import CronPlanner, CronSchedule
from spinach.inspection import Inspector, LimitInfo
from spinach.job import JobError, JobStatus
from spinach.task import Task
from spinach.utils import from_timestamp

from .helpers import make_job, make_task


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
    high.worker_slots = 8  # as start_workers(number=8) sets it
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
    assert (found[high.id].slots, worker.slots) == (8, None)  # None: not registered


def test_failed_jobs_a_page_at_a_time_newest_first(broker, clock):
    for n in range(5):
        broker.enqueue_jobs([make_job(clock, args=(n,))])
        [job] = broker.get_jobs_from_queue("q", 1)
        job.status, job.error = JobStatus.FAILED, JobError("builtins.ValueError", f"bad {n}")
        broker.acknowledge([job])
        clock.advance(1)
    inspect = Inspector(broker)
    assert inspect.failed_count() == 5
    assert [f.job.task_args[0] for f in inspect.failed(0, 2)] == [4, 3]
    assert [f.job.task_args[0] for f in inspect.failed(2)] == [2, 1, 0]
    assert inspect.failed(5) == []
    assert inspect.failed(1, 1)[0].error == JobError("builtins.ValueError", "bad 3")


def test_rejected_payloads_a_page_at_a_time_oldest_first(backend, broker):
    for n in range(3):
        backend.inject(broker, "q", f"not a job {n}".encode())
    assert broker.get_jobs_from_queue("q", 10) == []  # set aside by the fetch
    inspect = Inspector(broker)
    assert inspect.rejected() == [b"not a job 0", b"not a job 1", b"not a job 2"]
    assert inspect.rejected(1, 1) == [b"not a job 1"]
    assert inspect.rejected(3) == []


def cron_task(name: str, expression: str, zone: str | None = None) -> Task:
    return Task(lambda: None, name, "q", 0, None, None, cron=CronSchedule(expression, zone, name))


def test_schedules_periodic_and_cron_with_their_next_run(backend, clock):
    pytest.importorskip("cronsim")
    hourly = make_task("hourly", periodicity=3600)
    nightly = cron_task("nightly", "@daily", "Europe/Paris")
    tasks = [nightly, hourly, make_task("plain")]
    broker = backend.broker()
    broker.start()
    inspect = Inspector(broker, tasks)
    before = {s.name: s for s in inspect.schedules()}
    assert list(before) == ["hourly", "nightly"]  # by name; plain tasks are left out
    assert (before["hourly"].kind, before["hourly"].period) == ("periodic", timedelta(hours=1))
    assert (before["hourly"].cron, before["hourly"].zone) == (None, None)
    assert (before["nightly"].kind, before["nightly"].period) == ("cron", None)
    assert (before["nightly"].cron, before["nightly"].zone) == ("0 0 * * *", "Europe/Paris")
    assert [s.next_run for s in before.values()] == [None, None]  # no worker declared them

    declared = clock.time()
    broker.register_periodic_tasks(tasks)
    planner = CronPlanner(broker.namespace, broker, lambda: {t.name: t for t in tasks})
    planner.plan(clock.time())
    tick = CronSchedule("@daily", "Europe/Paris").next_after(clock.time())
    assert tick is not None
    found = {s.name: s.next_run for s in inspect.schedules()}
    assert found["hourly"] is not None and found["nightly"] is not None
    assert found["hourly"].timestamp() == pytest.approx(clock.time(), abs=1e-3)  # due now
    assert found["nightly"].timestamp() == pytest.approx(tick, abs=1e-3)

    clock.advance(tick - clock.time())
    broker.move_future_jobs()  # the tick is queued: nothing planned until a worker plans again
    found = {s.name: s.next_run for s in inspect.schedules()}
    assert found["nightly"] is None
    assert found["hourly"] is not None
    hours = (tick - declared) // 3600 + 1  # on its grid, the periods missed skipped
    assert found["hourly"].timestamp() == pytest.approx(declared + hours * 3600, abs=1e-3)
    planner.plan(clock.time())
    following = {s.name: s.next_run for s in inspect.schedules()}["nightly"]
    assert following is not None
    assert following - from_timestamp(tick) == timedelta(days=1)


def test_limits_running_parked_and_rate_windows(backend, clock):
    limited = make_task("limited", max_retries=1, max_concurrency=1)
    api = Task(lambda n: None, "api", "q", 0, None, None, rate_limit=(2, 60.0))
    both = Task(lambda n: None, "both", "q", 1, None, 3, rate_limit=(10, 1.0))
    tasks = [limited, api, both, make_task("plain")]
    broker = backend.broker()
    broker.start()
    broker.set_concurrency_keys(tasks)
    inspect = Inspector(broker, tasks)
    assert inspect.limits() == [
        LimitInfo("api", None, None, None, (2, 60.0), 0, 0),
        LimitInfo("both", 3, 0, 0, (10, 1.0), 0, 0),
        LimitInfo("limited", 1, 0, 0, None, None, None),
    ]

    broker.enqueue_jobs([make_job(clock, "limited", args=(n,)) for n in range(3)])
    broker.enqueue_jobs([make_job(clock, "api", args=(n,)) for n in range(5)])
    broker.enqueue_jobs([make_job(clock, "both", args=(0,))])
    running = broker.get_jobs_from_queue("q", 100)
    assert sorted(job.task_name for job in running) == ["api", "api", "both", "limited"]
    api_info, both_info, limited_info = inspect.limits()
    assert (limited_info.running, limited_info.parked) == (1, 2)
    assert (api_info.rate_started, api_info.rate_waiting) == (2, 3)
    assert (both_info.running, both_info.parked) == (1, 0)
    assert (both_info.rate_started, both_info.rate_waiting) == (1, 0)

    clock.advance(2)  # out of the window of "both", not of "api"
    for job in running:
        job.status = JobStatus.SUCCEEDED
    broker.acknowledge(running)
    api_info, both_info, limited_info = inspect.limits()
    assert (limited_info.running, limited_info.parked) == (0, 1)  # one back to the queue
    assert (both_info.running, both_info.rate_started) == (0, 0)
    assert (api_info.rate_started, api_info.rate_waiting) == (2, 3)
    assert Inspector(broker).limits() == []  # no tasks given: nothing to describe
