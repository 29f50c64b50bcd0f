"""Small helpers shared by the engine, the workers and the brokers."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

__all__ = ["exponential_backoff", "from_timestamp", "to_timestamp"]


def exponential_backoff(attempt: int, cap: int = 1200) -> timedelta:
    """Calculate a delay to retry using an exponential backoff algorithm.

    The delay doubles with each attempt (1 s, 2 s, 4 s, ...) up to ``cap``
    seconds, and a random jitter spreads it between half and all of that
    value, so that jobs failing together are not all retried at the same
    instant.  It is a good fit for most applications.

    :arg attempt: the number of attempts made, 0 or more
    :arg cap: maximum delay in seconds, defaults to 20 minutes
    """
    if attempt < 0:
        raise ValueError(f"attempt must be 0 or more, not {attempt!r}")
    if cap <= 0:
        raise ValueError(f"cap must be a positive number of seconds, not {cap!r}")
    # min() before any float conversion: 2 ** attempt may be a huge int.
    ceiling = float(min(cap, 2**attempt))
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
