"""Contract: cron tasks run once per tick across workers, never early, right across DST.

Each worker plans with its own :class:`~spinach.cron.CronPlanner`, as the
arbiter of a worker process does; the manual clock makes DST changes and
downtime testable without waiting.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from spinach.cron import CronPlanner, CronSchedule
from spinach.task import Task

pytest.importorskip("cronsim")

PARIS = ZoneInfo("Europe/Paris")


def cron_task(name: str, expression: str, zone: str | None = None) -> Task:
    return Task(lambda: None, name, "q", 0, None, None, cron=CronSchedule(expression, zone, name))


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def go_to(clock, timestamp: float) -> None:
    assert timestamp >= clock.time(), "the manual clock only goes forward"
    clock.advance(timestamp - clock.time())


def local(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, PARIS).isoformat()


class Worker:
    """A broker and its planner, run by hand as one worker's arbiter runs them."""

    def __init__(self, backend, tasks: list[Task]) -> None:
        self.broker = backend.broker()
        self.broker.start()
        self.tasks = {task.name: task for task in tasks}
        self.planner = CronPlanner(self.broker.namespace, self.broker, lambda: self.tasks)

    def turn(self, now: float) -> None:
        check = self.planner.next_check()
        if check is not None and now >= check:
            self.planner.plan(now)
        self.broker.move_future_jobs()

    def take(self) -> list:
        return self.broker.get_jobs_from_queue("q", 1000)


def run_for(clock, workers, seconds: float, step: float) -> list:
    """Advance the clock by ``step`` up to ``seconds``, each worker taking its turn."""
    taken = []
    for _ in range(round(seconds / step)):
        clock.advance(step)
        for worker in workers:
            worker.turn(clock.time())
            jobs = worker.take()
            assert all(job.at_timestamp <= clock.time() for job in jobs), "taken early"
            taken += jobs
    return taken


@pytest.fixture
def paris_clock(clock):
    go_to(clock, utc(2026, 3, 27, 12, 0))
    return clock


def test_three_workers_run_each_tick_once_never_early(backend, clock):
    go_to(clock, utc(2026, 6, 1, 11, 58, 30))
    task = cron_task("every_minute", "* * * * *")
    workers = [Worker(backend, [task]) for _ in range(3)]
    taken = run_for(clock, workers, 10 * 60, 7.5)

    ticks = [job.at_timestamp for job in taken]
    assert ticks == [utc(2026, 6, 1, 11, 59) + 60 * i for i in range(10)]
    assert len({job.id for job in taken}) == 10


def test_a_tick_is_not_queued_a_moment_before_it_is_due(backend, clock):
    go_to(clock, utc(2026, 6, 1, 2, 59, 0))
    worker = Worker(backend, [cron_task("nightly", "0 3 * * *")])
    worker.turn(clock.time())
    go_to(clock, utc(2026, 6, 1, 3, 0) - 0.001)
    worker.turn(clock.time())
    assert worker.take() == []
    go_to(clock, utc(2026, 6, 1, 3, 0))
    worker.turn(clock.time())
    [job] = worker.take()
    assert job.at_timestamp == utc(2026, 6, 1, 3, 0)


def test_weekdays_at_three_paris_time(backend, paris_clock):
    worker = Worker(backend, [cron_task("report", "0 3 * * 1-5", "Europe/Paris")])
    taken = run_for(paris_clock, [worker], 9 * 86400, 600)
    # Friday 27 March 2026 at noon: Monday to Friday of the next week, at
    # 03:00 Paris time, summer time from Sunday 29 on.
    assert [local(job.at_timestamp) for job in taken] == [
        "2026-03-30T03:00:00+02:00",
        "2026-03-31T03:00:00+02:00",
        "2026-04-01T03:00:00+02:00",
        "2026-04-02T03:00:00+02:00",
        "2026-04-03T03:00:00+02:00",
    ]


def test_a_tick_in_the_skipped_hour_runs_once_at_the_next_valid_time(backend, paris_clock):
    # On 29 March 2026 Paris clocks go from 02:00 to 03:00: 02:30 never comes.
    worker = Worker(backend, [cron_task("half_past_two", "30 2 * * *", "Europe/Paris")])
    taken = run_for(paris_clock, [worker], 3 * 86400, 300)
    assert [local(job.at_timestamp) for job in taken] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


def test_a_tick_in_the_repeated_hour_runs_once(backend, clock):
    # On 25 October 2026 Paris clocks go from 03:00 back to 02:00: 02:30 comes twice.
    go_to(clock, utc(2026, 10, 24, 12, 0))
    workers = [
        Worker(backend, [cron_task("half_past_two", "30 2 * * *", "Europe/Paris")])
        for _ in range(2)
    ]
    taken = run_for(clock, workers, 2 * 86400, 300)
    assert [local(job.at_timestamp) for job in taken] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]


def test_missed_ticks_are_not_replayed_after_downtime(backend, clock):
    go_to(clock, utc(2026, 6, 1, 0, 0, 30))
    worker = Worker(backend, [cron_task("hourly", "@hourly")])
    worker.turn(clock.time())  # plans 01:00, then every worker goes away

    go_to(clock, utc(2026, 6, 3, 12, 20))  # 59 ticks later, a worker is back
    back = Worker(backend, [cron_task("hourly", "@hourly")])
    back.turn(clock.time())
    taken = back.take()
    assert [job.at_timestamp for job in taken] == [utc(2026, 6, 1, 1, 0)]  # once, late
    assert back.planner.next_check() == utc(2026, 6, 3, 13, 0)  # then on schedule
    taken = run_for(clock, [back], 3600, 60)
    assert [job.at_timestamp for job in taken] == [utc(2026, 6, 3, 13, 0)]


def test_a_worker_starting_later_does_not_plan_a_tick_again(backend, clock):
    go_to(clock, utc(2026, 6, 1, 0, 0, 30))
    first = Worker(backend, [cron_task("hourly", "0 * * * *")])
    first.turn(clock.time())
    go_to(clock, utc(2026, 6, 1, 1, 0))
    first.turn(clock.time())
    [ran] = first.take()  # the 01:00 tick ran ...
    assert ran.at_timestamp == utc(2026, 6, 1, 1, 0)
    second = Worker(backend, [cron_task("hourly", "0 * * * *")])
    clock.advance(1)
    second.turn(clock.time())  # ... a new worker now plans 02:00, not 01:00 again
    assert second.take() == []
    assert run_for(clock, [first, second], 3600, 30)[0].at_timestamp == utc(2026, 6, 1, 2, 0)


def test_plan_cron_runs_refuses_a_tick_not_later_than_the_last(broker, clock):
    task = cron_task("daily", "@daily")
    planner = CronPlanner(broker.namespace, broker, lambda: {"daily": task})
    go_to(clock, utc(2026, 6, 1, 12, 0))
    planner.plan(clock.time())
    assert broker.future_jobs_count() == 1
    assert planner.next_check() == utc(2026, 6, 2, 0, 0)
    other = CronPlanner(broker.namespace, broker, lambda: {"daily": task})
    other.plan(clock.time())  # the same tick again: dropped
    assert broker.future_jobs_count() == 1
