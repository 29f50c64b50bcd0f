"""Rate-limited tasks on an Engine: checked when defined, enforced by real workers."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from spinach import Engine, MemoryBroker, Tasks
from spinach.exc import InvalidTaskError


@pytest.mark.parametrize(
    "given, expected",
    [
        ("100/m", (100, 60.0)),
        ("5/s", (5, 1.0)),
        (" 3 / 10s ", (3, 10.0)),
        ("1/d", (1, 86400.0)),
        ((20, timedelta(minutes=5)), (20, 300.0)),
        ((2, timedelta(milliseconds=500)), (2, 0.5)),
    ],
)
def test_rate_limits_are_read_when_the_task_is_defined(given, expected):
    tasks = Tasks()
    tasks.add(lambda: None, name="api", rate_limit=given)
    assert tasks.tasks["api"].rate_limit == expected


@pytest.mark.parametrize(
    "given, message",
    [
        ("100/minute", "is not"),
        ("100", "is not"),
        ("-1/s", "is not"),
        ("0/s", "at least 1 job"),
        ((0, timedelta(seconds=1)), "at least 1 job"),
        ((1, timedelta(0)), "between 1 ms and 30 days"),
        ((1, timedelta(days=31)), "between 1 ms and 30 days"),
        ((True, timedelta(seconds=1)), "must be a str"),
        ((1.5, timedelta(seconds=1)), "must be a str"),
        (100, "must be a str"),
    ],
)
def test_bad_rate_limits_are_refused_when_the_task_is_defined(given, message):
    tasks = Tasks()
    with pytest.raises(InvalidTaskError, match=message):
        tasks.add(lambda: None, name="api", rate_limit=given)
    assert "api" not in tasks.tasks


def test_real_workers_start_at_most_n_jobs_per_period(namespace, engines, wait_until):
    spin = Engine(MemoryBroker(), namespace=namespace)
    engines.append(spin)
    starts: list[float] = []
    lock = threading.Lock()

    @spin.task(name="api", rate_limit=(3, timedelta(seconds=0.5)))
    def api(n):
        with lock:
            starts.append(spin.broker.clock.time())

    began = time.monotonic()
    for n in range(9):
        spin.schedule("api", n)
    spin.start_workers(number=4, block=False)
    try:
        wait_until(lambda: len(starts) == 9, timeout=20, what="all jobs ran")
    finally:
        spin.stop_workers()
    # 9 jobs at 3 per half second: the last three cannot start before 1 s,
    # and start then (not at a heartbeat seconds later: a generous bound).
    assert 0.95 <= time.monotonic() - began < 4
    starts.sort()
    assert all(starts[i + 3] - starts[i] >= 0.45 for i in range(6)), starts
