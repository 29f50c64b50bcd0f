"""Running one job: call its task, decide the outcome, send its signals.

Both kinds of workers run jobs through a :class:`JobRunner`, so threaded
and asyncio workers follow the same rules:

- success: ``SUCCEEDED``;
- :class:`~spinach.exc.AbortException`: ``FAILED`` at once;
- any other exception (:class:`~spinach.exc.RetryException` included)
  while ``retries < max_retries``: retried at ``RetryException.at`` or
  after :func:`~spinach.utils.exponential_backoff`, status ``WAITING`` (or
  ``QUEUED`` when due at once);
- otherwise ``FAILED``.

An async job whose coroutine is cancelled (:class:`asyncio.CancelledError`)
did not fail by its own code: it was interrupted, like a job of a worker
that died.  A retryable job is queued again at once (its ``retries``
counted), a non-retryable one fails with
:class:`~spinach.exc.JobInterruptedError`, and no backoff or failure
traceback is logged for it.

The runner never raises: whatever a task does, the worker survives it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from . import signals
from .clock import Clock
from .exc import (
    AbortException,
    JobCancelledError,
    JobInterruptedError,
    JobTimeoutError,
    RetryException,
    SerializationError,
    UnknownTaskError,
)
from .hooks import JobHooks
from .job import Job, JobError, JobStatus
from .serialization import DEFAULT_LIMITS, PayloadLimits, encode_result
from .task import Task
from .timeouts import Abandoned, Guard, Interrupt
from .utils import exponential_backoff, from_timestamp, to_timestamp

__all__ = ["JobRunner", "current_job", "in_job"]

logger = logging.getLogger("spinach.job")

#: The job running in the current context (thread or asyncio task), if any.
_current_job: contextvars.ContextVar[Optional[Job]] = contextvars.ContextVar(
    "spinach_current_job", default=None
)


def in_job() -> bool:
    """Whether the caller runs inside a job (its task or code the task called)."""
    return _current_job.get() is not None


def current_job() -> Optional[Job]:
    """The job the caller runs in, or ``None`` outside of a job.

    Works in a task and in the code it calls, on ThreadWorkers and
    AsyncioWorkers alike (the job is held in a :mod:`contextvars` variable):
    the task can read its ``id``, ``retries``, ``max_retries``, ``at``,
    and ``cancel_requested``, which becomes true when
    :meth:`~spinach.engine.Engine.cancel` is called for it (see
    :meth:`~spinach.job.Job.raise_if_cancelled`).
    """
    return _current_job.get()


class JobRunner:
    """Runs jobs for the workers of one Engine.

    :arg namespace: namespace the signals are sent for
    :arg get_task: returns the attached task of a name, or ``None``
    :arg clock: source of time for retry dates
    :arg limits: bounds of a stored result (size, nesting)
    :arg engine: the Engine whose workers run the jobs (see :attr:`spinach.job.Job.engine`)
    :arg hooks: the contexts entered around the code of each job (see :mod:`spinach.hooks`)
    """

    def __init__(
        self,
        namespace: str,
        get_task: Callable[[str], Optional[Task]],
        clock: Clock,
        limits: PayloadLimits = DEFAULT_LIMITS,
        engine: Any = None,
        hooks: Optional[JobHooks] = None,
    ) -> None:
        self.namespace = namespace
        self._engine = engine
        self._hooks = hooks if hooks is not None else JobHooks()
        self._get_task = get_task
        self._clock = clock
        self._limits = limits
        # id(job) -> loop and asyncio task of async jobs run on threads.
        self._async_lock = threading.Lock()
        self._async_runs: Dict[int, Tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = {}
        self._warned_kind: set = set()  # type: ignore[type-arg]

    def knows(self, task_name: str) -> bool:
        """Whether the task of this name is attached to the engine."""
        return self._get_task(task_name) is not None

    def is_async(self, task_name: str) -> bool:
        """Whether the task of this name is an ``async def`` function."""
        task = self._get_task(task_name)
        return task is not None and task.is_async

    def fail_unrunnable(self, job: Job, error: BaseException) -> None:
        """Settle a job that cannot run here as a failed attempt: retried or failed.

        The job never started, so ``job_started`` and ``job_finished`` are
        not sent; a retry is scheduled with backoff while it has retries
        left, and ``job_failed`` is sent once it has none.
        """
        job.error = JobError.from_exception(error)
        if job.retryable:
            self._schedule_retry(job, error)
            signals.job_schedule_retry.send(self.namespace, job=job, err=error)
            return
        job.status = JobStatus.FAILED
        logger.error("%s", error, extra=job_log_extra(job))
        signals.job_failed.send(self.namespace, job=job, err=error)

    def timeout_of(self, task_name: str) -> Optional[float]:
        """Seconds a job of this task may run, or ``None``."""
        task = self._get_task(task_name)
        return None if task is None or task.timeout is None else task.timeout.total_seconds()

    def run(self, job: Job, guard: Optional[Guard] = None) -> Job:
        """Run a job in the calling thread and return it with its outcome set.

        With a ``guard`` (a task with a timeout), the watchdog may interrupt
        the task or give up on it (see :mod:`spinach.timeouts`); a job given
        up on is returned as it is, concluded by the watchdog.
        """
        task = self._begin(job)
        if task is None:
            return job
        _current_job.set(job)
        started = time.perf_counter()
        error: Optional[BaseException] = None
        final = False  # a failure that is never retried
        timeout = self._start_clock(job, task)
        try:
            try:
                if guard is not None:
                    guard.enter()
                if task.is_async:
                    self._warn_kind(
                        task, "an async task run by ThreadWorkers gets its own event loop"
                    )
                    call = task.func(*job.task_args, **job.task_kwargs)
                    if self._hooks.asynchronous:
                        call = self._hooks.await_(job, call)
                    if timeout is not None:
                        call = asyncio.wait_for(call, timeout)
                    value = asyncio.run(self._cancellable(job, call))
                else:
                    if self._hooks.sync:
                        value = self._hooks.call(job, task.func, *job.task_args, **job.task_kwargs)
                    else:  # the common case: not even a call more per job
                        value = task.func(*job.task_args, **job.task_kwargs)
            finally:
                if guard is not None:
                    guard.leave()
        except Abandoned:
            return job
        except BaseException as exc:  # a task must never kill its worker
            if isinstance(exc, Interrupt) and guard is not None:
                try:  # it may have been raised inside leave() itself: leave for sure
                    guard.leave()
                except Abandoned:
                    return job
            error = exc
            if isinstance(exc, Interrupt) or (
                # asyncio.wait_for's own timeout, not one raised by the task
                task.is_async
                and timeout is not None
                and isinstance(exc, asyncio.TimeoutError)
                and time.perf_counter() - started >= timeout
            ):
                error = self._timed_out(job, exc)
        else:
            error = self._store_result(job, task, value)
            final = error is not None
        return self._conclude(job, error, time.perf_counter() - started, final)

    async def run_async(self, job: Job) -> Job:
        """Run a job on the running event loop and return it with its outcome set."""
        task = self._begin(job)
        if task is None:
            return job
        _current_job.set(job)  # the job runs in an asyncio task of its own: its own context
        started = time.perf_counter()
        error: Optional[BaseException] = None
        final = False  # a failure that is never retried
        timeout = self._start_clock(job, task)
        expired: List[bool] = []
        alarm = None
        if timeout is not None:  # cancel this asyncio task at the deadline
            current = asyncio.current_task()
            assert current is not None

            def expire() -> None:
                expired.append(True)
                current.cancel()

            alarm = asyncio.get_running_loop().call_later(timeout, expire)
        try:
            if task.is_async:
                call = task.func(*job.task_args, **job.task_kwargs)
                if self._hooks.asynchronous:
                    call = self._hooks.await_(job, call)
                value = await call
            else:
                self._warn_kind(task, "a sync task run by AsyncioWorkers runs in a thread")
                if self._hooks.sync:
                    call = functools.partial(
                        self._hooks.call, job, task.func, *job.task_args, **job.task_kwargs
                    )
                else:
                    call = functools.partial(task.func, *job.task_args, **job.task_kwargs)
                context = contextvars.copy_context()
                value = await asyncio.get_running_loop().run_in_executor(None, context.run, call)
        except BaseException as exc:  # a task must never kill its worker
            error = self._timed_out(job, exc) if expired else exc
        else:
            error = self._store_result(job, task, value)
            final = error is not None
        finally:
            if alarm is not None:
                alarm.cancel()
        return self._conclude(job, error, time.perf_counter() - started, final)

    async def _cancellable(self, job: Job, call: Awaitable[Any]) -> Any:
        """Run an async task on a thread's own loop, where :meth:`cancel_async` reaches it."""
        current = asyncio.current_task()
        assert current is not None
        with self._async_lock:
            self._async_runs[id(job)] = (asyncio.get_running_loop(), current)
        try:
            job.raise_if_cancelled()  # requested before it could be reached
            return await call
        finally:
            with self._async_lock:
                del self._async_runs[id(job)]

    def cancel_async(self, job: Job) -> None:
        """Cancel a job's async task running on a thread's own loop (ThreadWorkers)."""
        with self._async_lock:
            run = self._async_runs.get(id(job))
        if run is not None:
            loop, task = run
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # its loop is closed: the job is over
                pass

    def _start_clock(self, job: Job, task: Task) -> Optional[float]:
        """Set the job's deadline from its task's timeout; return the timeout in seconds."""
        if task.timeout is None:
            return None
        timeout = task.timeout.total_seconds()
        job.deadline = from_timestamp(self._clock.time() + timeout)
        return timeout

    def _timed_out(self, job: Job, cause: BaseException) -> JobTimeoutError:
        task = self._get_task(job.task_name)
        limit = task.timeout if task is not None else None
        error = JobTimeoutError(
            f"job {job.id} of task {job.task_name!r} ran longer than its timeout of {limit}"
        )
        error.__cause__ = cause
        return error

    def conclude_given_up(self, job: Job, duration: float) -> Job:
        """Conclude a job whose thread was given up on past its deadline (timed out)."""
        error = JobTimeoutError(
            f"job {job.id} of task {job.task_name!r} ran longer than its timeout and could "
            "not be interrupted (blocked in a call Python cannot interrupt); its thread was "
            "left to finish on its own and whatever it does is discarded"
        )
        return self._conclude(job, error, duration)

    def _store_result(self, job: Job, task: Task, value: Any) -> Optional[BaseException]:
        """Encode what the task returned, if it stores results; return the error, if any.

        A value JSON cannot carry fails the job for good: running it again
        would redo its work to return the same value.
        """
        if not job.result_ttl:
            return None
        try:
            job._result = encode_result(task.name, value, self._limits)
        except SerializationError as exc:
            return exc
        return None

    def _begin(self, job: Job) -> Optional[Task]:
        task = self._get_task(job.task_name)
        if task is None:  # the arbiter hands such jobs back; a safety net
            error = UnknownTaskError(
                f"job {job.id} is for task {job.task_name!r}, which is not attached to "
                f"the Engine of this worker (namespace {self.namespace!r}); attach it or "
                "serve its queue with workers that know it"
            )
            self.fail_unrunnable(job, error)
            return None
        job.status = JobStatus.RUNNING
        job._engine = self._engine
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Starting job %s %s", job.task_name, job.id, extra=job_log_extra(job))
        signals.job_started.send(self.namespace, job=job)
        return task

    def _conclude(
        self, job: Job, error: Optional[BaseException], duration: float, final: bool = False
    ) -> Job:
        if error is None:
            job.status = JobStatus.SUCCEEDED
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "Job %s %s succeeded in %.1f ms",
                    job.task_name,
                    job.id,
                    duration * 1000,
                    extra=job_log_extra(job),
                )
        elif job.cancel_requested or isinstance(error, JobCancelledError):
            # Stopped on request (whatever it raised on the way out): never retried.
            job.status = JobStatus.CANCELLED
            job.error = JobError.from_exception(error)
            logger.info(
                "Job %s %s was cancelled on request after %.1f ms",
                job.task_name,
                job.id,
                duration * 1000,
                extra=job_log_extra(job),
            )
        elif isinstance(error, asyncio.CancelledError):
            job.error = JobError.from_exception(error)
            self._interrupted(job, error)
        elif not isinstance(error, AbortException) and job.retryable and not final:
            job.error = JobError.from_exception(error)
            self._schedule_retry(job, error)
            signals.job_schedule_retry.send(self.namespace, job=job, err=error)
        else:
            job.status = JobStatus.FAILED
            job.error = JobError.from_exception(error)
            if isinstance(error, AbortException):
                logger.warning(
                    "Job %s %s aborted: %s", job.task_name, job.id, error, extra=job_log_extra(job)
                )
            else:
                logger.error(
                    "Job %s %s failed after %d retries",
                    job.task_name,
                    job.id,
                    job.retries,
                    exc_info=error,
                    extra=job_log_extra(job),
                )
            signals.job_failed.send(self.namespace, job=job, err=error)
        signals.job_finished.send(self.namespace, job=job)
        return job

    def _interrupted(self, job: Job, error: BaseException) -> None:
        """A cancelled job: queued again at once if retryable, else failed."""
        if job.retryable:
            job.retries += 1
            job.at = from_timestamp(self._clock.time())
            job.status = JobStatus.QUEUED
            logger.warning(
                "Job %s %s was cancelled; it is retryable and runs again (retry %d of %d)",
                job.task_name,
                job.id,
                job.retries,
                job.max_retries,
                extra=job_log_extra(job),
            )
            signals.job_schedule_retry.send(self.namespace, job=job, err=error)
            return
        job.status = JobStatus.FAILED
        interrupted = JobInterruptedError(
            f"job {job.id} of task {job.task_name!r} was cancelled while it ran; it is not "
            "retryable, so it will not run again"
        )
        interrupted.__cause__ = error
        logger.warning("%s", interrupted, extra=job_log_extra(job))
        signals.job_failed.send(self.namespace, job=job, err=interrupted)

    def _schedule_retry(self, job: Job, error: BaseException) -> None:
        job.retries += 1
        now = self._clock.time()
        if isinstance(error, RetryException) and error.at is not None:
            at = to_timestamp(error.at)
        else:
            at = now + exponential_backoff(job.retries).total_seconds()
        job.at = from_timestamp(at)
        job.status = JobStatus.WAITING if at > now else JobStatus.QUEUED
        logger.warning(
            "Job %s %s will be retried at %s (retry %d of %d): %s",
            job.task_name,
            job.id,
            job.at.isoformat(timespec="milliseconds"),
            job.retries,
            job.max_retries,
            error if isinstance(error, RetryException) else repr(error),
            exc_info=None if isinstance(error, RetryException) else error,
            extra=job_log_extra(job),
        )

    def _warn_kind(self, task: Task, message: str) -> None:
        if task.name not in self._warned_kind:
            self._warned_kind.add(task.name)
            logger.warning(
                "Task %s: %s; give it a queue served by the matching workers class",
                task.name,
                message,
            )


def job_log_extra(job: Job) -> Dict[str, Any]:
    """The ``extra`` of a job's log records: its id and task name."""

    return {"spinach_job_id": str(job.id), "spinach_task_name": job.task_name}
