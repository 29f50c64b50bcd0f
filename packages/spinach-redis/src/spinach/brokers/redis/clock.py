"""The Redis server's clock, as seen from this process.

Machines disagree on the time, by seconds or minutes.  The broker's scripts
decide everything that depends on time (a job due or not, a worker silent
for too long, a periodic task due) with the server's own clock (``TIME``),
so those decisions never depend on a machine's clock.  What Python computes
locally (the ``at`` of a job due now, the date of a retry, how long to wait
for the next due job) uses :class:`ServerClock`: the local clock corrected
by the offset measured against the server on every heartbeat and, for
producers, once every few minutes.
"""

from __future__ import annotations

import threading
import time
from typing import Optional

from spinach.clock import Clock

__all__ = ["ServerClock"]

#: How old an offset may be before a producer measures it again.
RESYNC_AFTER = 300.0


class ServerClock(Clock):
    """The local clock, corrected to agree with the Redis server's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._error = float("inf")  # half the round trip of the best measurement
        self._measured_at: Optional[float] = None  # monotonic time of the last one

    def after_fork(self) -> None:
        """In a forked child: a lock held by another thread of the parent stays held."""
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        """Seconds to add to the local clock to read the server's."""
        return self._offset

    def time(self) -> float:
        """The server's time, as estimated here."""
        return time.time() + self._offset

    def monotonic(self) -> float:
        """Return :func:`time.monotonic`: intervals never depend on the wall clock."""
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: Optional[float]) -> bool:
        """Wait on the event with a real timeout."""
        return event.wait(timeout)

    def needs_sync(self) -> bool:
        """Whether the offset was never measured, or long ago."""
        measured = self._measured_at
        return measured is None or time.monotonic() - measured > RESYNC_AFTER

    def observe(self, server_time: float, sent: float, received: float) -> None:
        """Record the server's ``TIME`` read during a call sent and answered at these local times.

        The server read its clock somewhere between the two: the middle is
        the best guess, off by half the round trip at most.  A measurement
        replaces the current one when it is more precise or when the current
        one is old (clocks drift).
        """
        error = max(0.0, received - sent) / 2
        now = time.monotonic()
        with self._lock:
            stale = self._measured_at is None or now - self._measured_at > RESYNC_AFTER / 10
            if error <= self._error or stale:
                self._offset = server_time - (sent + received) / 2
                self._error = error
                self._measured_at = now
