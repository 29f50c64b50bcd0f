"""Which Redis errors the broker rides out, and what to tell the operator.

Every error a call to Redis can raise is handled on purpose:

- connection errors and timeouts (the server is unreachable, restarting,
  failing over);
- replies saying the server cannot serve the call *now*: ``LOADING`` (it
  loads its data after a restart), ``READONLY`` (a replica, during a
  failover), ``BUSY`` (a script runs too long), ``OOM`` (``maxmemory``
  reached under ``noeviction``), ``NOPERM`` (the ACL user lacks a
  permission), ``MASTERDOWN``, ``MISCONF``, ``NOREPLICAS``, ``TRYAGAIN``,
  ``CLUSTERDOWN``.

Those are retried with exponential backoff and jitter, and logged once per
episode with what to do.  A script run refused by any of them changed
nothing (Redis refuses a script before it runs, or at its first write),
with one exception: an ACL user lacking a command that a script runs only
after writing (hence the documented ACL line grants every command the
scripts use).  Retrying is safe all the same: the scripts that change state
carry an idempotency token or are idempotent by design, and none removes a
job before writing it elsewhere.  Every other error (a bug) is raised at
once as :class:`~spinach.exc.BrokerError`.
"""

from __future__ import annotations

from typing import Optional

from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    ConnectionError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

__all__ = ["retry_advice"]

# Error codes as Redis sends them, for errors raised inside scripts, which
# reach redis-py as a generic ResponseError carrying the original message.
_REPLY_ADVICE = (
    ("LOADING", "Redis is loading its data set after a restart; it answers once loaded"),
    (
        "READONLY",
        "Redis is a read-only replica: a failover is under way, or the client points at a "
        "replica; point it at the primary (or a sentinel/cluster client that follows it)",
    ),
    (
        "BUSY",
        "Redis is busy running a long script (BUSY); it answers once the script ends "
        "(SCRIPT KILL stops a script that has not written yet)",
    ),
    (
        "OOM",
        "Redis is out of memory (maxmemory reached under noeviction): free memory or raise "
        "maxmemory; jobs are kept and nothing is evicted meanwhile",
    ),
    (
        "NOPERM",
        "the Redis user lacks a permission (NOPERM): give it the ACL rules of the "
        "'Least privilege' section of the production documentation",
    ),
    ("MASTERDOWN", "the Redis replica lost its primary (MASTERDOWN); it answers once linked"),
    (
        "MISCONF",
        "Redis refuses writes because it cannot save its data (MISCONF): check its disk and "
        "persistence settings",
    ),
    ("NOREPLICAS", "Redis lacks the replicas min-replicas-to-write asks for (NOREPLICAS)"),
    ("TRYAGAIN", "the cluster is moving the namespace's slot (TRYAGAIN)"),
    ("CLUSTERDOWN", "the Redis Cluster is down (CLUSTERDOWN)"),
)


# How Redis words an ACL refusal of a command run by a script.
_ACL_REFUSALS = ("can't run this command", "can't access at least one", "No permissions to")


def retry_advice(exc: BaseException) -> Optional[str]:
    """What the operator should know about ``exc`` if it is to be retried, else ``None``."""
    if isinstance(exc, BusyLoadingError):
        return _REPLY_ADVICE[0][1]
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return (
            "Redis is unreachable (down, restarting, failing over, or the network is cut); "
            "the broker reconnects by itself"
        )
    if isinstance(exc, ReadOnlyError):
        return _REPLY_ADVICE[1][1]
    if isinstance(exc, OutOfMemoryError):
        return _REPLY_ADVICE[3][1]
    if isinstance(exc, NoPermissionError):
        return _REPLY_ADVICE[4][1]
    if isinstance(exc, (ClusterDownError, TryAgainError)):
        return "the Redis Cluster cannot serve the namespace's slot now"
    if isinstance(exc, ResponseError):
        message = str(exc)
        if any(refusal in message for refusal in _ACL_REFUSALS):
            return _REPLY_ADVICE[4][1]  # an ACL refusal inside a script
        for code, advice in _REPLY_ADVICE:
            # A reply's own code, or one raised by a command inside a script.
            if message.startswith(code) or f"{code} " in message or f"-{code}" in message:
                return advice
    return None
