"""Exceptions raised by Spinach.

Every error Spinach raises on its own derives from :class:`SpinachError`, so
``except SpinachError`` catches them all.  Subclasses say what went wrong:
bad input is reported when a task is defined or a job is scheduled, long
before a worker could trip over it.

:class:`RetryException` and :class:`AbortException` are not errors: a task
raises them to steer its own retries.  They are also importable from
``spinach`` and ``spinach.task``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

__all__ = [
    "AbortException",
    "BrokerConnectionError",
    "BrokerError",
    "BrokerUnavailableError",
    "DuplicateJobError",
    "InvalidJobSignatureError",
    "InvalidTaskError",
    "JobInterruptedError",
    "JobLostError",
    "NamespaceError",
    "PayloadTooLargeError",
    "RetryException",
    "SerializationError",
    "SpinachError",
    "TasksNotAttachedError",
    "UnknownTask",
    "UnknownTaskError",
    "WorkersError",
]


class SpinachError(Exception):
    """Root of every error raised by Spinach itself."""


class InvalidTaskError(SpinachError, ValueError):
    """A task definition or one of its options is invalid.

    Raised when the task is defined or attached, e.g. a duplicate name, a
    negative ``max_retries`` or ``max_concurrency`` without ``max_retries``.
    """


class NamespaceError(SpinachError, ValueError):
    """A namespace is invalid or a broker is already bound to another one."""


class UnknownTaskError(SpinachError, LookupError):
    """No task of that name (or function) is attached to the engine."""


#: The name of :class:`UnknownTaskError` in the original ``spinach`` 0.0.x:
#: the same class, so ``except UnknownTask`` catches it.
UnknownTask = UnknownTaskError


class InvalidJobSignatureError(SpinachError, TypeError):
    """The arguments of a job do not match the signature of its task."""


class SerializationError(SpinachError, TypeError):
    """Job arguments are not JSON serialisable, or a payload cannot be read."""


class PayloadTooLargeError(SerializationError):
    """A job's payload is larger than :class:`~spinach.serialization.PayloadLimits` allow.

    Raised when the job is scheduled: nothing is sent.
    """


class DuplicateJobError(SpinachError):
    """A job of a unique task was scheduled while a job with its key is still live.

    Raised by ``schedule``, ``schedule_at`` and ``schedule_batch`` for the
    tasks defined with ``on_duplicate="raise"``.  The duplicate was not
    scheduled; the other jobs of a batch were.

    :ivar duplicates: the jobs refused, each standing for the live job that
        holds its key (its ``id``, ``status``, date and arguments;
        ``duplicate`` is ``True``)
    :ivar scheduled: the other jobs of the call, which were scheduled
    """

    def __init__(
        self, message: str, duplicates: list[Any], scheduled: Optional[list[Any]] = None
    ) -> None:
        super().__init__(message)
        self.duplicates = duplicates
        self.scheduled = scheduled if scheduled is not None else []


class TasksNotAttachedError(SpinachError, RuntimeError):
    """``Tasks.schedule*`` was called before the tasks were attached to an Engine."""


class WorkersError(SpinachError, RuntimeError):
    """Workers cannot be started or stopped in the current state."""


class JobLostError(SpinachError):
    """A job was lost because the worker running it died.

    Sent as ``err`` with :data:`spinach.signals.job_failed` for the
    non-retryable jobs of a worker found dead: they are never run twice.
    """


class JobInterruptedError(JobLostError):
    """A running job was interrupted before it finished: its asyncio task was cancelled.

    Sent as ``err`` with :data:`spinach.signals.job_failed` for a
    non-retryable job; a retryable one is queued again instead.
    """


class JobNotFoundError(SpinachError, LookupError):
    """No record of this job: unknown id, a job not tracked, or its record expired.

    Only tracked jobs have a record (``track=True`` on the task, or
    ``Engine(track_jobs=True)``); a finished job's record is kept for the
    job's tracking time, then forgotten.
    """


class JobCancelledError(SpinachError):
    """Raised by a task that stops because its job's cancellation was requested.

    :meth:`spinach.job.Job.raise_if_cancelled` raises it; a job
    whose cancellation was requested and that ends with it (or with
    :class:`asyncio.CancelledError`) is ``CANCELLED``: it is not retried.
    """


class JobTimeoutError(SpinachError, TimeoutError):
    """A job ran longer than its task's ``timeout``.

    The job is retried or failed like any failed attempt, per its
    ``max_retries``; see the chapter "Following jobs" for what can be
    interrupted.
    """


class ResultNotStoredError(SpinachError, ValueError):
    """Waiting for the result of a job whose task does not store results.

    Give the task ``store_result=True`` (or a ``timedelta``) to keep them.
    """


class JobResultTimeoutError(SpinachError, TimeoutError):
    """The job did not finish within the time given to ``Job.result()``; it goes on."""


class JobFailedError(SpinachError):
    """The job whose result was awaited failed for good.

    :ivar job_id: id of the job (:class:`uuid.UUID`)
    :ivar error: :class:`~spinach.job.JobError` of its last attempt: the
        remote exception's type, message and formatted traceback
    """

    def __init__(self, message: str, job_id: Any = None, error: Any = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.error = error


class BrokerError(SpinachError):
    """The broker could not carry out an operation."""


class BrokerUnavailableError(BrokerError):
    """The broker could not serve a call after bounded retries.

    Raised to producers once the retries of a call are spent; the message
    says why (unreachable, out of memory, read-only replica, missing
    permission...) and what to do.
    """


class BrokerConnectionError(BrokerUnavailableError, ConnectionError):
    """The broker stayed unreachable after bounded retries."""


class RetryException(Exception):
    """Raised in a task to ask for the job to be retried.

    The task's ``max_retries`` still applies: once it is reached the job
    fails.  ``at`` is when to retry; without it the delay follows
    :func:`spinach.utils.exponential_backoff`.  A naive datetime is taken
    as UTC.
    """

    def __init__(self, message: str, at: Optional[datetime] = None) -> None:
        super().__init__(message)
        self.at = at


class AbortException(Exception):
    """Raised in a task to fail the job now, with no further retry."""
