"""Context managers entered around the code of every job of an Engine.

Signals tell receivers that a job started or finished; they are sent by
the worker, which for some jobs is not where the task's code runs: a sync
task run by :class:`~spinach.worker.AsyncioWorkers` runs in an executor
thread, and an async task's own context is its asyncio task.  State that is
per thread or per context (database connections, tracing contexts) needs a
hook that runs exactly there, which is what these are:

- a *job context* is a callable taking the :class:`~spinach.job.Job` and
  returning a context manager; it is entered in the thread that runs a sync
  task, just before the task is called, and exited right after it returns
  or raises;
- an *async job context* returns an async context manager, entered in the
  asyncio task that runs an async task, around the await of the task.

Register them with :meth:`spinach.engine.Engine.add_job_context`.  They are
part of the job: what they raise is the job's error (retried or not as the
task's own exceptions are), and a task timeout counts their time too.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import (
    Any,
    AsyncContextManager,
    Awaitable,
    Callable,
    ContextManager,
    List,
    Optional,
    Tuple,
    TypeVar,
)

from .job import Job

__all__ = ["AsyncJobContext", "JobContext", "JobHooks"]

logger = logging.getLogger(__name__)

#: Returns the context manager entered around the sync code of a job.
JobContext = Callable[[Job], ContextManager[Any]]
#: Returns the async context manager entered around an async job.
AsyncJobContext = Callable[[Job], AsyncContextManager[Any]]

_T = TypeVar("_T")


def _swallowed(job: Job, error: Optional[BaseException]) -> BaseException:
    """The error a job ends with when a context suppressed one (the task never returned)."""
    if error is None:  # a context's entry failed, and another context suppressed that
        error = RuntimeError(
            f"a job context suppressed the error of another one: task {job.task_name!r} did not run"
        )
    logger.warning(
        "A job context of job %s (task %s) suppressed its %s; the job ends with it all the "
        "same: a context cannot turn a failure into a success",
        job.id,
        job.task_name,
        type(error).__name__,
    )
    return error


class JobHooks:
    """The job contexts of one Engine.

    Registering is guarded by a lock and replaces an immutable tuple, so the
    workers read the current contexts without a lock; the runner calls
    :meth:`call` and :meth:`await_` only when there are contexts, so a job
    with none pays one attribute read.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sync: Tuple[JobContext, ...] = ()
        self.asynchronous: Tuple[AsyncJobContext, ...] = ()

    def after_fork(self) -> None:
        """In a forked child: a lock held by another thread of the parent stays held."""
        self._lock = threading.Lock()

    def add(
        self,
        context: JobContext | None = None,
        async_context: AsyncJobContext | None = None,
    ) -> None:
        """Register a job context, an async job context, or both."""
        if context is None and async_context is None:
            raise TypeError("add_job_context() needs a context, an async_context or both")
        for name, value in (("context", context), ("async_context", async_context)):
            if value is not None and not callable(value):
                raise TypeError(
                    f"{name} must be a callable taking the job and returning a context "
                    f"manager, not {type(value).__name__}"
                )
        with self._lock:
            if context is not None:
                self.sync = (*self.sync, context)
            if async_context is not None:
                self.asynchronous = (*self.asynchronous, async_context)

    def call(self, job: Job, func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Call ``func`` inside the job contexts, in the calling thread."""
        contexts = self.sync
        outcome: List[Any] = []  # [value] once the task returned
        error: Optional[BaseException] = None
        with contextlib.ExitStack() as stack:
            for context in contexts:
                stack.enter_context(context(job))
            try:
                outcome.append(func(*args, **kwargs))
            except BaseException as exc:
                error = exc
                raise
        if outcome:
            return outcome[0]  # type: ignore[no-any-return]
        raise _swallowed(job, error)

    async def await_(self, job: Job, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` inside the async job contexts."""
        contexts = self.asynchronous
        outcome: List[Any] = []  # [value] once the task returned
        error: Optional[BaseException] = None
        try:
            async with contextlib.AsyncExitStack() as stack:
                for context in contexts:
                    await stack.enter_async_context(context(job))
                try:
                    outcome.append(await awaitable)
                except BaseException as exc:
                    error = exc
                    raise
            if outcome:
                return outcome[0]  # type: ignore[no-any-return]
            raise _swallowed(job, error)
        finally:
            close = getattr(awaitable, "close", None)
            if close is not None:  # a context failed before the coroutine was awaited
                close()
