"""Engine.inspect: pages are bounded and checked."""

from __future__ import annotations

from datetime import timedelta

import pytest

from spinach.inspection import MAX_PAGE


@pytest.mark.parametrize(
    "offset, limit, error",
    [(-1, 10, ValueError), (0, 0, ValueError), (0, MAX_PAGE + 1, ValueError), ("0", 10, TypeError),
     (0, True, TypeError)],
)  # fmt: skip
def test_bad_pages_are_refused(real_spin, offset, limit, error):
    with pytest.raises(error):
        real_spin.inspect.jobs("spinach", offset, limit)
    with pytest.raises(error):
        real_spin.inspect.future_jobs(offset, limit)
    with pytest.raises(error):
        real_spin.inspect.failed(offset, limit)
    with pytest.raises(error):
        real_spin.inspect.rejected(offset, limit)


def test_bad_queue_names_are_refused(real_spin):
    with pytest.raises(ValueError, match="invalid queue name"):
        real_spin.inspect.jobs("bad name")
    with pytest.raises(ValueError):
        real_spin.inspect.queue("*")


def test_an_engine_inspects_its_own_jobs(real_spin):
    @real_spin.task(name="work")
    def work(n):
        pass

    for n in range(3):
        real_spin.schedule(work, n)
    [info] = real_spin.inspect.queues()
    assert (info.name, info.length) == ("spinach", 3)
    assert [job.task_args for job in real_spin.inspect.jobs("spinach")] == [(0,), (1,), (2,)]


def test_schedules_and_limits_are_those_of_the_tasks_attached_now(real_spin):
    inspect = real_spin.inspect  # kept: tasks attached later are seen
    assert (inspect.schedules(), inspect.limits()) == ([], [])

    @real_spin.task(name="tick", periodicity=timedelta(minutes=5))
    def tick():
        pass

    @real_spin.task(name="api", rate_limit="10/m", max_concurrency=2, max_retries=1)
    def api():
        pass

    [schedule] = inspect.schedules()
    assert (schedule.name, schedule.period) == ("tick", timedelta(minutes=5))
    assert schedule.next_run is None  # no worker declared it yet
    [limit] = inspect.limits()
    assert (limit.name, limit.max_concurrency, limit.rate_limit) == ("api", 2, (10, 60.0))
    assert (limit.running, limit.parked, limit.rate_started, limit.rate_waiting) == (0, 0, 0, 0)


def test_workers_say_how_many_jobs_they_can_run_at_once(real_spin):
    real_spin.start_workers(number=3, block=False)
    try:
        [worker] = real_spin.inspect.workers()
        assert worker.slots == 3
    finally:
        real_spin.stop_workers()
