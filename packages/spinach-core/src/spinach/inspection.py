"""What an operator needs to see: queues, jobs, workers, schedules, limits.

:attr:`spinach.engine.Engine.inspect` gives an :class:`Inspector` that reads
the broker, the same on every broker.  Every method reads a bounded amount
of data: listing the jobs of a queue of a million jobs reads one page of
it, never the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, Iterable, List, Optional, Tuple, Union

from .job import Job
from .utils import from_timestamp

if TYPE_CHECKING:
    from .brokers.base import Broker
    from .failures import FailedJob
    from .task import Task

__all__ = [
    "MAX_PAGE",
    "FutureJobsInfo",
    "Inspector",
    "LimitInfo",
    "QueueInfo",
    "ScheduleInfo",
    "WorkerInfo",
]

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
    #: How many jobs it can run at once (the ``number`` given to
    #: :meth:`~spinach.engine.Engine.start_workers`); ``None`` for a worker
    #: of a version that did not register it.
    slots: Optional[int] = None


@dataclass(frozen=True)
class ScheduleInfo:
    """A periodic or cron task of the Engine, and its next run."""

    #: The task's name.
    name: str
    #: ``"periodic"`` or ``"cron"``.
    kind: str
    #: The period of a periodic task (``None`` for a cron task).
    period: Optional[timedelta]
    #: The cron expression of a cron task (aliases expanded), and the name
    #: of its time zone (both ``None`` for a periodic task).
    cron: Optional[str]
    zone: Optional[str]
    #: When it runs next, as the broker has it planned (UTC); ``None`` when
    #: nothing is planned: a periodic task no worker declared yet (or
    #: retired), a cron task whose last tick planned has passed and whose
    #: next tick no worker planned yet.  A periodic task's date may be
    #: past: it runs as soon as a worker finds it due.
    next_run: Optional[datetime]


@dataclass(frozen=True)
class LimitInfo:
    """A task of the Engine with a ``max_concurrency`` or a ``rate_limit``, and its state."""

    #: The task's name.
    name: str
    #: Its ``max_concurrency`` (``None``: none), how many of its jobs run now
    #: counted against it, and how many wait for a slot (parked); both
    #: ``None`` without a ``max_concurrency``.
    max_concurrency: Optional[int]
    running: Optional[int]
    parked: Optional[int]
    #: Its ``rate_limit`` as ``(jobs, seconds)`` (``None``: none).
    rate_limit: Optional[Tuple[int, float]]
    #: Starts of its jobs in the current window (the last ``seconds``, by
    #: the broker's clock), and jobs waiting for room in a later window
    #: (their date reserved); both ``None`` without a ``rate_limit``.
    rate_started: Optional[int]
    rate_waiting: Optional[int]


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


#: The tasks an :class:`Inspector` describes: tasks, or what returns them.
TasksSource = Union[Iterable["Task"], Callable[[], Iterable["Task"]]]


class Inspector:
    """Reads the state of a namespace from its broker; see the module.

    :arg broker: the broker of the namespace
    :arg tasks: the tasks whose schedules and limits :meth:`schedules` and
        :meth:`limits` describe, or a function returning them (the Engine's
        gives its attached tasks)
    """

    def __init__(self, broker: Broker, tasks: TasksSource = ()) -> None:
        self._broker = broker
        self._tasks = tasks

    def _task_list(self) -> List[Task]:
        tasks = self._tasks() if callable(self._tasks) else self._tasks
        return sorted(tasks, key=lambda task: task.name)

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

    def failed(self, offset: int = 0, limit: int = 100) -> List[FailedJob]:
        """A page of the registry of failed jobs, the newest first.

        The same as :meth:`spinach.engine.Engine.failed_jobs`, a page at a
        time: requeue or purge them there.

        :raises ValueError: for a negative offset or a limit outside 1 to
            :data:`MAX_PAGE`
        """
        offset, limit = _check_page(offset, limit)
        return self._broker.failed_jobs(offset, limit)

    def failed_count(self) -> int:
        """How many failed jobs the registry holds."""
        return self._broker.failed_jobs_count()

    def rejected(self, offset: int = 0, limit: int = 100) -> List[bytes]:
        """A page of the payloads set aside because they could not be read, the oldest first.

        The newest 10,000 are kept (see :meth:`spinach.brokers.base.Broker.rejected`).

        :raises ValueError: for a negative offset or a limit outside 1 to
            :data:`MAX_PAGE`
        """
        offset, limit = _check_page(offset, limit)
        return self._broker.rejected(offset, limit)

    def schedules(self) -> List[ScheduleInfo]:
        """The periodic and cron tasks of the Engine, by name, with their next run."""
        tasks = [t for t in self._task_list() if t.periodicity is not None or t.cron is not None]
        if not tasks:
            return []
        periodic = [t for t in tasks if t.periodicity is not None]
        due = dict(self._broker.periodic_tasks()) if periodic else {}
        crons = [t.name for t in tasks if t.cron is not None]
        planned = self._broker.cron_next_runs(crons) if crons else {}
        found = []
        for task in tasks:
            if task.periodicity is not None:
                at = due.get(task.name)
                found.append(
                    ScheduleInfo(
                        task.name,
                        "periodic",
                        task.periodicity,
                        None,
                        None,
                        None if at is None else from_timestamp(at),
                    )
                )
            else:
                assert task.cron is not None
                tick = planned.get(task.name)
                found.append(
                    ScheduleInfo(
                        task.name,
                        "cron",
                        None,
                        task.cron.expression,
                        str(task.cron.zone),
                        None if tick is None else from_timestamp(tick),
                    )
                )
        return found

    def limits(self) -> List[LimitInfo]:
        """The tasks of the Engine with a ``max_concurrency`` or a ``rate_limit``, by name.

        Read in one round trip, whatever the number of jobs waiting.
        """
        tasks = [
            task
            for task in self._task_list()
            if task.max_concurrency is not None or task.rate_limit is not None
        ]
        return self._broker.limits(tasks) if tasks else []
