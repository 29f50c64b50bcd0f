"""Workers: the pools of threads or coroutines that run jobs.

The arbiter hands a pool at most as many jobs as it has free slots, so a job
never waits in a worker process for long.  When the pool stops, jobs
already running finish, and jobs handed over but not started yet are given
back to be returned to the broker.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from abc import ABC, abstractmethod
from typing import Callable, List, Optional

from . import signals
from .exc import WorkersError
from .job import Job, JobStatus
from .runner import JobRunner
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
        self._lock = threading.Lock()
        self._in_flight = 0
        self._stopping = False
        self._unstarted: List[Job] = []

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
        """Hand a job to the pool; it must have a free slot."""
        with self._lock:
            if self._stopping:
                raise WorkersError("the workers are stopping")
            if self._in_flight >= self.number:
                raise WorkersError("no free worker for this job")
            self._in_flight += 1
        self._submit(job)

    def _take_back(self, job: Job) -> bool:
        """Keep a job aside if the pool is stopping; return whether it was."""
        with self._lock:
            if not self._stopping:
                return False
            job.status = JobStatus.QUEUED
            self._unstarted.append(job)
            self._in_flight -= 1
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

    def _begin_stop(self) -> None:
        """From now on, jobs reaching a worker are kept aside, not run."""
        with self._lock:
            self._stopping = True

    @abstractmethod
    def _submit(self, job: Job) -> None:
        """Give a job to a worker."""

    @abstractmethod
    def stop(self) -> List[Job]:
        """Let running jobs finish, stop the workers, return the unstarted jobs."""


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
        self._threads = [
            start_thread(self._work, self.worker_name(i)) for i in range(1, number + 1)
        ]

    def _submit(self, job: Job) -> None:
        self._queue.put(job)

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
                try:
                    contextvars.copy_context().run(self._runner.run, job)
                except BaseException:  # pragma: no cover - the runner does not raise
                    logger.exception("Unexpected error running job %s", job.id)
                    job.status = JobStatus.FAILED
                self._job_done(job)
        finally:
            signals.worker_terminated.send(self.namespace, worker_name=name)

    def stop(self) -> List[Job]:
        """Let running jobs finish, stop the threads, return the unstarted jobs."""
        self._begin_stop()
        for _ in self._threads:
            self._queue.put(None)
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join()
        return list(self._unstarted)


class AsyncioWorkers(BaseWorkers):
    """Workers running async tasks as ``number`` coroutines on one event loop.

    The loop runs in its own thread, so ``number`` can be in the hundreds.
    Each job runs in its own asyncio task.  A sync task given to these
    workers runs in the loop's default executor, so that it does not block
    the loop.
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
        self._ready = threading.Event()
        self._jobs: Optional[asyncio.Queue[Optional[Job]]] = None
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
                try:
                    # A task of its own gives the job a fresh copy of the context.
                    await asyncio.ensure_future(self._runner.run_async(job))
                except BaseException:  # pragma: no cover - the runner does not raise
                    logger.exception("Unexpected error running job %s", job.id)
                    job.status = JobStatus.FAILED
                self._job_done(job)
        finally:
            signals.worker_terminated.send(self.namespace, worker_name=name)

    def _submit(self, job: Job) -> None:
        assert self._jobs is not None
        self._loop.call_soon_threadsafe(self._jobs.put_nowait, job)

    def stop(self) -> List[Job]:
        """Let running jobs finish, stop the loop, return the unstarted jobs."""
        self._begin_stop()
        assert self._jobs is not None
        for _ in range(self.number):
            self._loop.call_soon_threadsafe(self._jobs.put_nowait, None)
        if threading.current_thread() is not self._thread:
            self._thread.join()
        return list(self._unstarted)
