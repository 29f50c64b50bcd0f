"""Spinach: a Redis task queue for Python 3.

The names users need are importable from here::

    from spinach import Engine, MemoryBroker, RedisBroker, Tasks, Batch

``RedisBroker`` comes from the ``spinach-redis`` distribution and is
imported only when it is first used.
"""

__path__ = __import__("pkgutil").extend_path(__path__, __name__)

from typing import TYPE_CHECKING, Any

# _conflict is imported first: it raises ImportError if the original 'spinach'
# 0.0.x is installed in the same environment.
from . import _conflict, signals  # noqa: F401
from ._version import __version__
from .brokers.memory import MemoryBroker
from .clock import ManualClock, SystemClock
from .engine import Engine
from .exc import AbortException, RetryException, SpinachError
from .job import Job, JobError, JobStatus
from .runner import current_job
from .task import Batch, Tasks
from .worker import AsyncioWorkers, ThreadWorkers

if TYPE_CHECKING:  # pragma: no cover
    from .brokers.redis import RedisBroker  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "AbortException",
    "AsyncioWorkers",
    "Batch",
    "Engine",
    "Job",
    "JobError",
    "JobStatus",
    "ManualClock",
    "MemoryBroker",
    "RedisBroker",
    "RetryException",
    "SpinachError",
    "SystemClock",
    "Tasks",
    "ThreadWorkers",
    "__version__",
    "current_job",
    "signals",
]


def __getattr__(name: str) -> Any:
    if name == "RedisBroker":
        try:
            from .brokers.redis import RedisBroker  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            if exc.name not in ("spinach.brokers.redis", "redis"):
                raise
            raise ImportError(
                "RedisBroker is provided by the spinach-redis distribution: "
                "pip install spinach-redis",
                name="spinach.brokers.redis",
            ) from exc
        return RedisBroker
    raise AttributeError(f"module 'spinach' has no attribute {name!r}")
