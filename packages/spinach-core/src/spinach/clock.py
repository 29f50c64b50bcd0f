"""Time as seen by Spinach, injectable so that tests need not wait.

Everything time-dependent (future jobs, retries, periodic tasks, heartbeats
and the detection of dead workers) reads the time from a :class:`Clock` and
sleeps through it.  Brokers take a ``clock=`` argument; the default is the
:class:`SystemClock`.  Tests pass a :class:`ManualClock` and move time
forward by hand::

    clock = ManualClock()
    spin = Engine(MemoryBroker(clock=clock))
    spin.schedule_at(task, clock.now() + timedelta(hours=1))
    clock.advance(3600)  # the job is due now, no real hour spent
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Dict, Optional, Tuple

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock:
    """Source of the current time and of timed waits.

    Times are POSIX timestamps in seconds (floats), as :func:`time.time`.
    """

    def time(self) -> float:
        """Return the current POSIX timestamp."""
        raise NotImplementedError

    def now(self) -> datetime:
        """Return the current time as a timezone-aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=timezone.utc)

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, to time intervals (heartbeats).

        A wall clock may be stepped back (NTP correcting a clock that was
        ahead): intervals timed on it would stretch by the step.  The
        default is :meth:`time`, right for clocks that never go back.
        """
        return self.time()

    def wait(self, event: threading.Event, timeout: Optional[float]) -> bool:
        """Block until ``event`` is set or ``timeout`` seconds have passed.

        Return whether the event is set.  ``None`` waits for the event only.
        """
        raise NotImplementedError


class SystemClock(Clock):
    """The real wall clock."""

    def time(self) -> float:
        """Return :func:`time.time`."""
        return time.time()

    def monotonic(self) -> float:
        """Return :func:`time.monotonic`."""
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: Optional[float]) -> bool:
        """Wait on the event with a real timeout."""
        return event.wait(timeout)


class ManualClock(Clock):
    """A clock that only moves when told to, for tests.

    Waits on this clock end when their event is set or when :meth:`advance`
    moves the time past their deadline.  :meth:`wait_for_sleepers` lets a
    test know that the threads it woke have looked at the new time and gone
    back to sleep, which is how a test proves that something did *not*
    happen (a future job not started early) without sleeping.
    """

    def __init__(self, start: Optional[float] = None) -> None:
        self._now = 1_700_000_000.0 if start is None else float(start)
        self._cond = threading.Condition()
        self._sleepers: Dict[int, Tuple[Optional[float], threading.Event]] = {}
        self._next_token = 0

    def time(self) -> float:
        """Return the current fake timestamp."""
        with self._cond:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the time forward and wake the sleepers now due."""
        if seconds < 0:
            raise ValueError("a ManualClock cannot go backwards")
        with self._cond:
            self._now += seconds
            for deadline, event in self._sleepers.values():
                if deadline is not None and deadline <= self._now:
                    event.set()
            self._cond.notify_all()

    def wait(self, event: threading.Event, timeout: Optional[float]) -> bool:
        """Wait until ``event`` is set or the fake time reaches the deadline."""
        if timeout is not None and timeout <= 0:
            return event.is_set()
        with self._cond:
            token = self._next_token
            self._next_token += 1
            deadline = None if timeout is None else self._now + timeout
            self._sleepers[token] = (deadline, event)
            self._cond.notify_all()
        try:
            return event.wait()
        finally:
            with self._cond:
                del self._sleepers[token]
                self._cond.notify_all()

    def wait_for_sleepers(
        self, count: int = 1, timeout: float = 10.0, deadline: Optional[float] = None
    ) -> bool:
        """Block until ``count`` threads sleep on this clock with a future deadline.

        With ``deadline``, only sleepers due to wake at or before it count:
        a test can wait until a worker plans to wake for a given job.
        Return False if that did not happen within ``timeout`` real seconds.
        """

        def asleep() -> bool:
            pending = [
                d
                for d, event in self._sleepers.values()
                if (d is None or d > self._now)
                and not event.is_set()
                and (deadline is None or (d is not None and d <= deadline + 1e-6))
            ]
            return len(pending) >= count

        with self._cond:
            return self._cond.wait_for(asleep, timeout)
