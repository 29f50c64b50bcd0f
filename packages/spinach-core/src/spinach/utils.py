"""Small helpers shared by the engine, the workers and the brokers."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

__all__ = ["exponential_backoff", "from_timestamp", "start_thread", "to_timestamp"]


def exponential_backoff(attempt: int, cap: int = 1200) -> timedelta:
    """Calculate a delay to retry using an exponential backoff algorithm.

    The delay starts at 3 seconds and doubles with each attempt: attempt
    ``n`` waits between ``3 * 2 ** (n - 1)`` and ``3 * 2 ** n`` seconds (3 to
    6 s for the first retry, 6 to 12 s for the second, ...), never more than
    ``cap`` seconds.  The random jitter within each step spreads jobs that
    failed together, so that they are not all retried at the same instant.
    It is a good fit for most applications, and the scale of the original
    ``spinach`` 0.0.x.

    :arg attempt: the number of attempts made, 0 or more (0 gives 1.5 to 3 s)
    :arg cap: maximum delay in seconds, defaults to 20 minutes
    """
    if attempt < 0:
        raise ValueError(f"attempt must be 0 or more, not {attempt!r}")
    if cap <= 0:
        raise ValueError(f"cap must be a positive number of seconds, not {cap!r}")
    # 3 s doubled per attempt.  Past 64 attempts it is far over any sensible
    # cap: never build a huge int.
    ceiling = float(min(cap, 3 * 2 ** min(attempt, 64)))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def to_timestamp(at: datetime) -> float:
    """Return the POSIX timestamp of ``at``; a naive datetime is taken as UTC."""
    if not isinstance(at, datetime):
        raise TypeError(f"expected a datetime, not {type(at).__name__}")
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.timestamp()


def from_timestamp(timestamp: float) -> datetime:
    """Return the timezone-aware UTC datetime of a POSIX timestamp."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def start_thread(
    target: Callable[..., Any], name: str, *args: Any, start: bool = True
) -> threading.Thread:
    """Create (and start) a named daemon thread for Spinach's machinery.

    Threads keep the default signal mask: processes started by tasks (which
    inherit the mask of the thread that starts them) must receive SIGTERM
    and SIGINT like any other.  A signal the kernel delivers to one of these
    threads still reaches a blocking
    :meth:`~spinach.engine.Engine.start_workers`: its main thread waits on
    the wake-up file descriptor of :func:`signal.set_wakeup_fd`.  Brokers
    use this function for their own threads.
    """
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    if start:
        thread.start()
    return thread
