"""The registry of failed jobs: what failed for good, kept for inspection and requeue.

Every job that fails for good (retries exhausted, ``AbortException``, a
timeout, lost with a dead worker, a task no worker knows, a result JSON
cannot carry, a payload set aside as unreadable) is kept by the broker,
tracked or not, with the error of its last attempt: the newest
``failed_jobs_kept`` for ``failed_jobs_ttl`` (see
:class:`~spinach.engine.Engine`).  It costs nothing until a job fails.

:meth:`spinach.engine.Engine.failed_jobs` lists them,
:meth:`~spinach.engine.Engine.requeue_failed` runs them again (retries
reset, earlier failures kept in :attr:`FailedJob.history`) and
:meth:`~spinach.engine.Engine.purge_failed` forgets them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional, Tuple

from .job import Job, JobError, JobStatus, read_job_head
from .utils import from_timestamp

__all__ = [
    "DEFAULT_FAILED_JOBS_KEPT",
    "DEFAULT_FAILED_JOBS_TTL",
    "UNREADABLE",
    "FailedAttempt",
    "FailedJob",
    "parse_history",
    "unreadable_job",
]

#: The error type of a failed job whose payload was set aside as unreadable.
UNREADABLE = "spinach.exc.SerializationError"

#: How many failed jobs are kept by default (the newest).
DEFAULT_FAILED_JOBS_KEPT = 10_000
#: How long a failed job is kept by default.
DEFAULT_FAILED_JOBS_TTL = timedelta(days=7)


@dataclass(frozen=True)
class FailedAttempt:
    """An earlier failure of a job that was requeued since.

    :ivar error: the error it failed with, or ``None``
    :ivar failed_at: when it failed
    :ivar requeued_at: when it was requeued, or ``None``
    """

    error: Optional[JobError]
    failed_at: datetime
    requeued_at: Optional[datetime]


@dataclass(frozen=True)
class FailedJob:
    """A job in the registry of failed jobs.

    :ivar job: the job as it last ran (its arguments, retries, queue...)
    :ivar error: the error of its last attempt, or ``None`` if none was recorded
    :ivar failed_at: when it failed for good
    :ivar worker_id: the worker that recorded the failure
    :ivar history: its earlier failures, oldest first, if it was requeued
    :ivar payload: for a job whose payload was set aside as unreadable (not
        signed with the workers' key, larger than their limit, not written
        as Spinach writes it): the payload as it was found; ``job`` then
        only has the id, task and queue of its head, and it cannot be
        requeued (inspect it, then purge it)
    """

    job: Job
    error: Optional[JobError]
    failed_at: datetime
    worker_id: Optional[str]
    history: Tuple[FailedAttempt, ...] = ()
    payload: Optional[bytes] = None

    @property
    def readable(self) -> bool:
        """Whether its payload could be read (it can be requeued)."""
        return self.payload is None

    @property
    def id(self) -> Any:
        """The job's :class:`uuid.UUID`."""
        return self.job.id


def parse_history(text: str | bytes | None) -> Tuple[FailedAttempt, ...]:
    """Read the stored history of a failed job (a JSON list); empty if unreadable."""
    if not text:
        return ()
    try:
        items = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(items, list):
        return ()
    attempts = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("failed_at"), (int, float)):
            continue
        error = item.get("error")
        requeued = item.get("requeued_at")
        attempts.append(
            FailedAttempt(
                JobError.from_json(json.dumps(error)) if isinstance(error, dict) else None,
                from_timestamp(float(item["failed_at"])),
                from_timestamp(float(requeued)) if isinstance(requeued, (int, float)) else None,
            )
        )
    return tuple(attempts)


def unreadable_job(payload: str | bytes, status: JobStatus) -> Optional[Job]:
    """The job a payload that cannot be read stands for, from its head alone; ``None``."""
    head = read_job_head(payload)
    if head is None:
        return None
    job_id, task_name, queue = head
    job = Job._create(task_name, queue, 0.0, 0, (), {}, job_id, 0, status)
    return job
