"""Workers: the pools of threads or coroutines that run jobs.

The arbiter hands a pool at most as many jobs as it has free slots, so a job
never waits in a worker process for long.  A pool stops in two steps:
:meth:`BaseWorkers.begin_stop` starts no new job and hands the jobs it holds
but has not started back at once (as finished jobs whose outcome is
``QUEUED``, so the arbiter returns them to the broker), and
:meth:`BaseWorkers.join` waits for the running jobs to finish, while the
arbiter keeps heart-beating and acknowledging them one by one.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional

from . import signals
from .exc import WorkersError
from .job import Job, JobStatus
from .runner import JobRunner
from .timeouts import Guard, Watchdog
from .utils import start_thread

__all__ = ["AsyncioWorkers", "BaseWorkers", "ThreadWorkers"]

logger = logging.getLogger("spinach.worker")


class BaseWorkers(ABC):
    """A pool of ``number`` workers running the jobs given to :meth:`submit_job`.

    :arg number: how many jobs may run at once
    :arg namespace: namespace of the Engine, used for signals and names
    :arg runner: runs one job and sets its outcome
    :arg on_job_done: called with each finished job, from the worker
    :arg on_slot_freed: called when a worker is free again, after
        ``on_job_done``
    """

    def __init__(
        self,
        number: int,
        namespace: str,
        runner: JobRunner,
        on_job_done: Callable[[Job], None],
        on_slot_freed: Callable[[], None] = lambda: None,
    ) -> None:
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise WorkersError(f"the number of workers must be an int of 1 or more, not {number!r}")
        self.number = number
        self.namespace = namespace
        self._runner = runner
        self._on_job_done = on_job_done
        self._on_slot_freed = on_slot_freed
        # Reentrant: _submit runs under it, and implementations may take it.
        self._lock = threading.RLock()
        self._in_flight = 0
        self._stopping = False

    @property
    def available_slots(self) -> int:
        """How many more jobs the pool can take now."""
        with self._lock:
            return self.number - self._in_flight

    @property
    def in_flight(self) -> int:
        """Jobs handed to the pool and not finished yet."""
        with self._lock:
            return self._in_flight

    def worker_name(self, index: int) -> str:
        """Name of the worker number ``index`` (threads and signals use it)."""
        return f"{self.namespace}-worker-{index}"

    def submit_job(self, job: Job) -> None:
        """Hand a job to the pool; it must have a free slot.

        A job handed over once the pool is stopping is handed back at once
        (see :meth:`begin_stop`).
        """
        with self._lock:
            if self._in_flight >= self.number:
                raise WorkersError("no free worker for this job")
            self._in_flight += 1
            if not self._stopping:
                # Under the lock: a stop beginning now finds the job pending.
                self._submit(job)
                return
        self._take_back(job)

    def _take_back(self, job: Job) -> bool:
        """Hand a job back unstarted if the pool is stopping; return whether it was.

        The job goes the way of finished jobs, with the outcome ``QUEUED``:
        the arbiter returns it to its queue at its next turn.
        """
        with self._lock:
            if not self._stopping:
                return False
        job.status = JobStatus.QUEUED  # never started: back to the queue as it was
        self._job_done(job)
        return True

    def _job_done(self, job: Job) -> None:
        # Report before freeing the slot, so that the engine never sees the
        # pool idle while a result is not yet on its way to the broker; then
        # say the slot is free, so that the arbiter fetches for it.
        try:
            self._on_job_done(job)
        finally:
            with self._lock:
                self._in_flight -= 1
            self._on_slot_freed()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`begin_stop` was called."""
        with self._lock:
            return self._stopping

    def begin_stop(self) -> None:
        """Start no new job; hand the jobs not started yet back at once."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        self._release_pending()

    def stop(self) -> List[Job]:
        """Stop: :meth:`begin_stop`, then :meth:`join`.

        Returns an empty list: unstarted jobs are handed back through
        ``on_job_done`` as they are found (kept for callers of earlier
        versions, which returned them here).
        """
        self.begin_stop()
        self.join()
        return []

    def request_cancel(self, job: Job) -> None:
        """A running job's cancellation was requested (its ``cancel_requested`` is set).

        Threads cannot be interrupted: a threaded task sees the flag.  Called
        from a broker thread.
        """

    @abstractmethod
    def _submit(self, job: Job) -> None:
        """Give a job to a worker."""

    @abstractmethod
    def _release_pending(self) -> None:
        """Hand back the jobs submitted but not picked by a worker yet, and
        tell every worker to end once it is idle."""

    @abstractmethod
    def join(self) -> None:
        """Wait until every running job has finished and the workers ended."""


class ThreadWorkers(BaseWorkers):
    """Workers running each job in one of ``number`` threads (the default)."""

    def __init__(
        self,
        number: int,
        namespace: str,
        runner: JobRunner,
        on_job_done: Callable[[Job], None],
        on_slot_freed: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(number, namespace, runner, on_job_done, on_slot_freed)
        self._queue: queue.SimpleQueue[Optional[Job]] = queue.SimpleQueue()
        self._replacements = itertools.count(1)
        # Stops jobs past their task's timeout (see spinach.timeouts).
        self._watchdog = Watchdog(f"{namespace}-watchdog", self._give_up)
        self._running: Dict[Guard, Job] = {}  # runs watched by the watchdog, under _lock
        # The worker threads not ended or given up on; notified when that changes.
        self._threads_changed = threading.Condition(self._lock)
        with self._lock:
            self._threads = [
                start_thread(self._work, self.worker_name(i)) for i in range(1, number + 1)
            ]

    def _submit(self, job: Job) -> None:
        self._queue.put(job)

    def request_cancel(self, job: Job) -> None:
        """An async task running on a thread's loop is cancelled; a sync one sees the flag."""
        self._runner.cancel_async(job)

    def _work(self) -> None:
        name = threading.current_thread().name
        signals.worker_started.send(self.namespace, worker_name=name)
        try:
            while True:
                job = self._queue.get()
                if job is None:
                    return
                if self._take_back(job):
                    continue
                if not self._run(job):
                    return  # given up on past its deadline: another thread took the slot
        finally:
            try:
                signals.worker_terminated.send(self.namespace, worker_name=name)
            finally:  # join() returns once every thread is done, signal included
                with self._threads_changed:
                    me = threading.current_thread()
                    self._threads = [t for t in self._threads if t is not me]
                    self._threads_changed.notify_all()

    def _run(self, job: Job) -> bool:
        """Run a job; return False if it was given up on (this thread must end)."""
        timeout = self._runner.timeout_of(job.task_name)
        guard = None if timeout is None else Guard(timeout, self._watchdog)
        if guard is not None:  # watched from when the thread enters the task
            with self._lock:
                self._running[guard] = job
        try:
            contextvars.copy_context().run(self._runner.run, job, guard)
        except BaseException:  # pragma: no cover - the runner does not raise
            logger.exception("Unexpected error running job %s", job.id)
            job.status = JobStatus.FAILED
        if guard is not None:
            with self._lock:
                self._running.pop(guard, None)
            if guard.abandoned:
                return False
        self._job_done(job)
        return True

    def _give_up(self, guard: Guard) -> None:
        """The watchdog gave up on a run: conclude it, and give its slot a new thread."""
        with self._threads_changed:
            job = self._running.pop(guard, None)
            if job is None:  # pragma: no cover - a run is given up on once
                return
            stuck = [t.name for t in self._threads if t.ident == guard.ident]
            self._threads = [t for t in self._threads if t.ident != guard.ident]
            name = "none (the pool is stopping)"
            if not self._stopping:  # a stopping pool has told its threads to end already
                name = f"{self.namespace}-worker-r{next(self._replacements)}"
                self._threads.append(start_thread(self._work, name))
            self._threads_changed.notify_all()
        logger.error(
            "Job %s of task %r is past its timeout and its thread (%s) could not be "
            "interrupted: giving up on it (it goes on, its outcome is discarded); "
            "new thread for its slot: %s",
            job.id,
            job.task_name,
            stuck[0] if stuck else "?",
            name,
        )
        self._runner.conclude_given_up(job, time.monotonic() - guard.started)
        self._job_done(job)

    def _release_pending(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._take_back(job)
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)

    def join(self) -> None:
        """Wait for the running jobs to finish and the threads to end.

        Threads given up on past a job's timeout are not waited for.
        """
        current = threading.current_thread()
        with self._threads_changed:
            self._threads_changed.wait_for(
                lambda: not [t for t in self._threads if t is not current]
            )
        self._watchdog.stop()


class AsyncioWorkers(BaseWorkers):
    """Workers running async tasks as ``number`` coroutines on one event loop.

    The loop runs in its own thread, so ``number`` can be in the hundreds.
    Each job runs in its own asyncio task.  A sync task given to these
    workers runs in a pool of ``number`` threads (the loop's default
    executor), so that it does not block the loop and as many sync jobs can
    run at once as async ones.
    """

    def __init__(
        self,
        number: int,
        namespace: str,
        runner: JobRunner,
        on_job_done: Callable[[Job], None],
        on_slot_freed: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(number, namespace, runner, on_job_done, on_slot_freed)
        self._loop = asyncio.new_event_loop()
        self._loop.set_default_executor(
            ThreadPoolExecutor(max_workers=number, thread_name_prefix=f"{namespace}-sync-worker")
        )
        self._ready = threading.Event()
        self._jobs: Optional[asyncio.Queue[Optional[Job]]] = None
        # id(job) -> the asyncio task running it; owned by the loop's thread.
        self._running: Dict[int, asyncio.Future[Job]] = {}
        self._thread = start_thread(self._run_loop, f"{namespace}-asyncio-workers")
        self._ready.wait()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._jobs = asyncio.Queue()
        workers = [
            asyncio.ensure_future(self._work(self.worker_name(i)))
            for i in range(1, self.number + 1)
        ]
        self._ready.set()
        await asyncio.gather(*workers)

    async def _work(self, name: str) -> None:
        assert self._jobs is not None
        signals.worker_started.send(self.namespace, worker_name=name)
        try:
            while True:
                job = await self._jobs.get()
                if job is None:
                    return
                if self._take_back(job):
                    continue
                # A task of its own gives the job a fresh copy of the context.
                running = asyncio.ensure_future(self._runner.run_async(job))
                self._running[id(job)] = running
                try:
                    await running
                except BaseException:  # pragma: no cover - the runner does not raise
                    logger.exception("Unexpected error running job %s", job.id)
                    job.status = JobStatus.FAILED
                finally:
                    del self._running[id(job)]
                self._job_done(job)
        finally:
            signals.worker_terminated.send(self.namespace, worker_name=name)

    def _submit(self, job: Job) -> None:
        assert self._jobs is not None
        self._loop.call_soon_threadsafe(self._jobs.put_nowait, job)

    def request_cancel(self, job: Job) -> None:
        """Cancel the asyncio task of an async job (a sync one sees the flag only)."""
        if self._runner.is_async(job.task_name):
            try:
                self._loop.call_soon_threadsafe(self._cancel_in_loop, job)
            except RuntimeError:  # the loop is closed: the job is over
                pass

    def _cancel_in_loop(self, job: Job) -> None:
        running = self._running.get(id(job))
        # RUNNING: the coroutine is inside the runner's try, which concludes it.
        if running is not None and job.status is JobStatus.RUNNING:
            running.cancel()

    def _release_pending(self) -> None:
        self._loop.call_soon_threadsafe(self._release_in_loop)

    def _release_in_loop(self) -> None:
        assert self._jobs is not None
        while not self._jobs.empty():
            job = self._jobs.get_nowait()
            if job is not None:
                self._take_back(job)
        for _ in range(self.number):
            self._jobs.put_nowait(None)

    def join(self) -> None:
        """Wait for the running jobs to finish and the loop to close."""
        if threading.current_thread() is not self._thread:
            self._thread.join()
