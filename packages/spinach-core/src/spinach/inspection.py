"""What an operator needs to see: queues, future jobs, workers, pages of jobs.

:attr:`spinach.engine.Engine.inspect` gives an :class:`Inspector` that reads
the broker, the same on every broker.  Every method reads a bounded amount
of data: listing the jobs of a queue of a million jobs reads one page of
it, never the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, List, Optional, Tuple

from .job import Job
from .utils import from_timestamp

if TYPE_CHECKING:
    from .brokers.base import Broker

__all__ = ["MAX_PAGE", "FutureJobsInfo", "Inspector", "QueueInfo", "WorkerInfo"]

#: The most jobs a page may hold.
MAX_PAGE = 1000


@dataclass(frozen=True)
class QueueInfo:
    """A queue of jobs ready to run."""

    #: Its name.
    name: str
    #: Jobs waiting in it, jobs held back by their task's ``max_concurrency``
    #: included, and cancelled jobs that no worker has dropped yet (a
    #: cancelled job keeps its place until a fetch reaches it).
    length: int
    #: The date (``at``) of the job that has waited longest, if any.
    oldest_at: Optional[datetime]
    #: Seconds since that date, by the broker's clock (0 when empty).
    oldest_age: float


@dataclass(frozen=True)
class FutureJobsInfo:
    """The jobs waiting for their date."""

    #: How many there are.
    count: int
    #: The date of the next one due, if any.
    next_due: Optional[datetime]


@dataclass(frozen=True)
class WorkerInfo:
    """A live worker: an Engine's running workers, as registered in the broker."""

    #: Its id (one per Engine run).
    id: str
    #: The machine and process it runs in (``None`` where unknown).
    host: Optional[str]
    pid: Optional[int]
    #: The queues it serves, in priority order.
    queues: Tuple[str, ...]
    #: The version of the broker package it runs.
    version: Optional[str]
    #: When it started, and when its last heartbeat was heard.
    started_at: Optional[datetime]
    last_heartbeat: Optional[datetime]
    #: How many jobs it is running now.
    running: int


def _check_page(offset: object, limit: object) -> Tuple[int, int]:
    for name, value in (("offset", offset), ("limit", limit)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {value!r}")
    assert isinstance(offset, int) and isinstance(limit, int)
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, not {offset}")
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1 to {MAX_PAGE}, not {limit}")
    return offset, limit


class Inspector:
    """Reads the state of a namespace from its broker; see the module."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def queues(self) -> List[QueueInfo]:
        """Every queue that ever held a job, by name."""
        return [self._broker.queue_info(name) for name in self._broker.queue_names()]

    def queue(self, name: str) -> QueueInfo:
        """One queue, by name (empty if it never held a job)."""
        from .task import validate_name

        return self._broker.queue_info(validate_name("queue", name, ValueError))

    def jobs(self, queue: str, offset: int = 0, limit: int = 100) -> List[Job]:
        """A page of the jobs waiting in ``queue``, the next to run first.

        Jobs held back by their task's ``max_concurrency`` are not listed;
        a cancelled job a worker has not dropped yet is, with the status
        ``CANCELLED``.

        :raises ValueError: for a bad queue name, a negative offset or a
            limit outside 1 to :data:`MAX_PAGE`
        """
        from .task import validate_name

        validate_name("queue", queue, ValueError)
        offset, limit = _check_page(offset, limit)
        return self._broker.queue_jobs(queue, offset, limit)

    def future(self) -> FutureJobsInfo:
        """How many jobs wait for their date, and when the next is due."""
        count, next_due = self._broker.future_jobs_summary()
        return FutureJobsInfo(count, None if next_due is None else from_timestamp(next_due))

    def future_jobs(self, offset: int = 0, limit: int = 100) -> List[Job]:
        """A page of the jobs waiting for their date, the soonest first.

        Jobs due at the same time come in the order of their payloads, the
        same on every broker.
        """
        offset, limit = _check_page(offset, limit)
        return self._broker.future_jobs(offset, limit)

    def workers(self) -> List[WorkerInfo]:
        """The workers registered in the namespace (live, or dead and not recovered yet)."""
        return self._broker.workers()
