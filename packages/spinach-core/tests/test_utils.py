"""exponential_backoff, dates and the clocks."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from spinach.clock import ManualClock, SystemClock
from spinach.utils import exponential_backoff, from_timestamp, to_timestamp


@pytest.mark.parametrize("attempt", range(15))
def test_backoff_is_exponential_with_jitter_and_capped(attempt):
    # Base 3 s doubling: attempt n waits within the step 3 * 2**(n-1) .. 3 * 2**n.
    ceiling = min(1200, 3 * 2**attempt)
    delays = [exponential_backoff(attempt).total_seconds() for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1  # jitter spreads retries


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(0, 1.5, 3), (1, 3, 6), (2, 6, 12), (3, 12, 24), (8, 384, 768), (9, 600, 1200)],
)
def test_backoff_steps(attempt, low, high):
    delays = [exponential_backoff(attempt).total_seconds() for _ in range(500)]
    assert low <= min(delays) and max(delays) <= high
    # The jitter covers the step, not a sliver of it.
    assert min(delays) < low + (high - low) / 4 and max(delays) > high - (high - low) / 4


def test_backoff_cap_and_huge_attempts():
    assert 600 <= exponential_backoff(10_000).total_seconds() <= 1200
    assert 600 <= exponential_backoff(10**12).total_seconds() <= 1200
    assert 5 <= exponential_backoff(50, cap=10).total_seconds() <= 10
    assert all(exponential_backoff(a, cap=4).total_seconds() <= 4 for a in range(40))
    assert isinstance(exponential_backoff(1), timedelta)


@pytest.mark.parametrize(("attempt", "cap"), [(-1, 10), (1, 0), (1, -5)])
def test_backoff_rejects_nonsense(attempt, cap):
    with pytest.raises(ValueError):
        exponential_backoff(attempt, cap)


def test_naive_datetimes_are_utc():
    naive = datetime(2030, 5, 6, 7, 8, 9)
    aware = naive.replace(tzinfo=timezone.utc)
    assert to_timestamp(naive) == to_timestamp(aware)
    assert from_timestamp(to_timestamp(naive)) == aware
    with pytest.raises(TypeError):
        to_timestamp(12.0)


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(start=100)
    assert clock.time() == 100
    assert clock.now() == from_timestamp(100)
    clock.advance(2.5)
    assert clock.time() == 102.5
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_manual_clock_wakes_sleepers_at_their_deadline():
    clock = ManualClock()
    event = threading.Event()
    woke = threading.Event()

    def sleeper():
        clock.wait(event, 10)
        woke.set()

    threading.Thread(target=sleeper, daemon=True).start()
    assert clock.wait_for_sleepers(1)
    assert clock.wait_for_sleepers(1, deadline=clock.time() + 10)
    assert not clock.wait_for_sleepers(1, timeout=0.01, deadline=clock.time() + 9)
    clock.advance(9.99)
    assert clock.wait_for_sleepers(1)
    assert not woke.is_set()
    clock.advance(0.01)
    assert woke.wait(10)


def test_manual_clock_wait_ends_with_its_event():
    clock = ManualClock()
    event = threading.Event()
    done = threading.Event()
    threading.Thread(target=lambda: (clock.wait(event, None), done.set()), daemon=True).start()
    assert clock.wait_for_sleepers(1)
    event.set()
    assert done.wait(10)
    assert clock.wait(event, 0) is True


def test_system_clock():
    clock = SystemClock()
    assert abs(clock.now().timestamp() - clock.time()) < 1
    assert clock.wait(threading.Event(), 0) is False
