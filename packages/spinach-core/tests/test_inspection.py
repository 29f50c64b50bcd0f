"""Engine.inspect: pages are bounded and checked."""

from __future__ import annotations

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
