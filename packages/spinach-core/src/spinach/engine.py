"""The Engine: connects tasks, jobs, a broker and workers together."""

from __future__ import annotations

import asyncio
import logging
import select
import signal
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import FrameType
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Type, Union

from ._forks import renew_after_fork
from .arbiter import Arbiter
from .brokers.base import Broker, Queues
from .codec import PayloadCodec
from .cron import CronPlanner
from .exc import (
    DuplicateJobError,
    InvalidTaskError,
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    JobResultTimeoutError,
    ResultNotStoredError,
    SpinachError,
    UnknownTaskError,
    WorkersError,
)
from .failures import DEFAULT_FAILED_JOBS_KEPT, DEFAULT_FAILED_JOBS_TTL, FailedJob
from .hooks import AsyncJobContext, JobContext, JobHooks
from .inspection import Inspector
from .job import _MAX_TRACK, _RECORD_ATTRIBUTES, Job, JobStatus, new_job_id, periodic_job_id
from .notifier import Results
from .runner import JobRunner, in_job
from .serialization import DEFAULT_LIMITS, PayloadLimits, check_arguments
from .task import DEFAULT_QUEUE, Batch, Task, TaskRef, Tasks, validate_name
from .utils import start_thread, to_timestamp
from .worker import BaseWorkers, ThreadWorkers

__all__ = ["DEFAULT_FINISHED_JOBS_TTL", "Engine", "JobId"]

logger = logging.getLogger("spinach.engine")

#: A job's id as the following methods take it: a UUID or its text.
JobId = Union[uuid.UUID, str]

#: How long the record of a finished tracked job is kept by default.
DEFAULT_FINISHED_JOBS_TTL = timedelta(days=1)


def _ttl_seconds(ttl: Union[timedelta, float], what: str = "store_result") -> int:
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else ttl
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a timedelta or seconds, not {ttl!r}")
    if not 1 <= seconds <= _MAX_TRACK:
        raise ValueError(f"{what} must be between 1 second and 10 years, not {seconds!r} seconds")
    return int(seconds)


def _valid_timeout(timeout: object) -> bool:
    return (
        not isinstance(timeout, bool)
        and isinstance(timeout, (int, float))
        and timeout >= 0  # NaN too
    )


def _task_name(task: object) -> str:
    if isinstance(task, str):
        return task
    if isinstance(task, Task):
        return task.name
    raise TypeError(f"task is a task name or a Task, not {task!r}")


def _job_id_hex(job_id: object) -> str:
    """The 32 hex digits of a job id given as a UUID or its text; TypeError/ValueError else."""
    if isinstance(job_id, uuid.UUID):
        return job_id.hex
    if not isinstance(job_id, str):
        raise TypeError(f"a job id is a UUID or a str, not {type(job_id).__name__}")
    try:
        return uuid.UUID(job_id).hex
    except ValueError:
        raise ValueError(f"{job_id!r} is not a job id (a UUID)") from None


@dataclass
class _Running:
    """The machinery of a worker run: started together, stopped together."""

    queue: Queues
    workers: BaseWorkers
    results: Results
    arbiter: Arbiter
    stopped: threading.Event = field(default_factory=threading.Event)
    #: Called once the run has stopped (wakes a main thread waiting for it).
    on_stopped: Callable[[], None] = lambda: None
    #: Why the run ended other than by a stop request, if it did.
    crash: Optional[BaseException] = None


class Engine:
    """Spinach Engine coordinating a broker with workers.

    The Engine runs in two modes:

    - **client**: it validates jobs and sends them to the broker, in the
      calling thread, without starting any thread;
    - **worker**: :meth:`start_workers` starts worker threads (or an asyncio
      loop) and an arbiter thread, which fetches jobs and acknowledges
      finished ones in one broker call per cycle, plus whatever
      the broker needs (the Redis broker's subscriber thread).

    :arg broker: instance of a :class:`~spinach.brokers.base.Broker`
    :arg namespace: name isolating this Engine from others using the same
        broker server or the same interpreter
    :arg payload_limits: bounds of a job's payload (size, nesting), checked
        when a job is scheduled and when a worker reads it; see
        :class:`~spinach.serialization.PayloadLimits`
    :arg signing_key: optional secret (bytes) shared by the producers and
        workers of the namespace: producers sign every payload (HMAC-SHA256)
        and workers set aside the unsigned and forged ones, for a Redis
        shared with less trusted code.  Off by default; see
        :mod:`spinach.codec`.
    :arg track_jobs: keep a record of every job of the tasks whose ``track``
        option is ``None`` (the default), so that :meth:`get_job` finds them
        and :meth:`cancel` can cancel them.  Off by default: a record costs
        Redis commands for every job (see the chapter "Following jobs").
    :arg finished_jobs_ttl: how long the record of a finished tracked job
        is kept (a ``timedelta``, or seconds), one day by default; records of
        jobs not finished yet are kept until they are.
    :arg failed_jobs_kept: how many failed jobs the registry of failed jobs
        keeps (the newest), see :meth:`failed_jobs`
    :arg failed_jobs_ttl: how long a failed job is kept there (a
        ``timedelta``, or seconds), seven days by default
    """

    def __init__(
        self,
        broker: Broker,
        namespace: str = "spinach",
        *,
        payload_limits: PayloadLimits = DEFAULT_LIMITS,
        signing_key: Optional[bytes] = None,
        track_jobs: bool = False,
        finished_jobs_ttl: Union[timedelta, float] = DEFAULT_FINISHED_JOBS_TTL,
        failed_jobs_kept: int = DEFAULT_FAILED_JOBS_KEPT,
        failed_jobs_ttl: Union[timedelta, float] = DEFAULT_FAILED_JOBS_TTL,
    ) -> None:
        if not isinstance(track_jobs, bool):
            raise TypeError(f"track_jobs must be True or False, not {track_jobs!r}")
        self._track_jobs = track_jobs
        self._record_ttl = _ttl_seconds(finished_jobs_ttl, "finished_jobs_ttl")
        if isinstance(failed_jobs_kept, bool) or not isinstance(failed_jobs_kept, int):
            raise TypeError(f"failed_jobs_kept must be an int, not {failed_jobs_kept!r}")
        if not 1 <= failed_jobs_kept <= 10_000_000:
            raise ValueError(f"failed_jobs_kept must be 1 to 10,000,000, not {failed_jobs_kept}")
        broker.failed_jobs_kept = failed_jobs_kept
        broker.failed_jobs_ttl = _ttl_seconds(failed_jobs_ttl, "failed_jobs_ttl")
        broker.namespace = namespace  # validates the name, binds the broker once
        if not isinstance(payload_limits, PayloadLimits):
            raise TypeError(f"payload_limits must be a PayloadLimits, not {payload_limits!r}")
        broker.codec = PayloadCodec(payload_limits, signing_key, self._is_periodic_run)
        self._broker = broker
        self._namespace = namespace
        self._limits = payload_limits
        self._lock = threading.RLock()
        # Replaced, never mutated, so that readers need no lock.
        self._tasks: Dict[str, Task] = {}
        self._by_func: Dict[Callable[..., Any], Optional[Task]] = {}
        self._own_tasks = Tasks()
        self._running: Optional[_Running] = None
        self._last_run: Optional[_Running] = None  # may still be draining
        self._hooks = JobHooks()
        self.attach_tasks(self._own_tasks)
        renew_after_fork(self)

    def _after_fork_in_child(self) -> None:
        # Workers started by the parent do not exist in the child (only the
        # forking thread survives a fork): the child may start its own.
        self._lock = threading.RLock()
        self._hooks.after_fork()
        self._running = None
        self._last_run = None

    def _is_periodic_run(self, job: Job) -> bool:
        """Whether an unsigned ``job`` may be trusted as a run the broker made itself.

        Runs of periodic tasks are built by the broker, where the signing key
        is not: one is trusted when it is exactly such a run (no arguments,
        no retry yet, the id of its slot) of a task that this Engine knows as
        periodic, or does not know at all (it is then handed back, never
        run here: during a deploy, another worker may know it).  Its queue
        and retries may differ from this Engine's, as they do while a deploy
        changes them.
        """
        if job.task_args or job.task_kwargs or job.retries:
            return False
        if job.id_hex != periodic_job_id(self._namespace, job.task_name, job.at_timestamp):
            return False
        task = self._tasks.get(job.task_name)
        return task is None or task.periodicity is not None

    @property
    def namespace(self) -> str:
        """Namespace the Engine uses."""
        return self._namespace

    @property
    def broker(self) -> Broker:
        """The broker the Engine uses."""
        return self._broker

    @property
    def inspect(self) -> Inspector:
        """What the broker holds now: queues, jobs, workers, schedules and limits of tasks.

        ``spin.inspect.queues()``, ``spin.inspect.jobs("emails", offset=0,
        limit=100)``...: see :class:`spinach.inspection.Inspector`.  Its
        schedules and limits are those of the tasks attached to this Engine.
        """
        return Inspector(self._broker, self._attached_tasks)

    def _attached_tasks(self) -> Iterable[Task]:
        return self._tasks.values()  # read at each call: attaching replaces the dict

    @property
    def tasks(self) -> Dict[str, Task]:
        """The attached tasks, by name (a copy)."""
        return dict(self._tasks)

    def __repr__(self) -> str:
        return f"<Engine namespace={self._namespace!r} broker={self._broker!r}>"

    def add_job_context(
        self,
        context: Optional[JobContext] = None,
        *,
        async_context: Optional[AsyncJobContext] = None,
    ) -> None:
        """Enter a context manager around the code of each job the workers run.

        ``context(job)`` returns a context manager, entered in the thread
        that runs a sync task (a worker thread of ThreadWorkers, an executor
        thread of AsyncioWorkers) just before the task is called and exited
        just after.  ``async_context(job)`` returns an async context manager,
        entered in the asyncio task that runs an async task, around its
        await.  This is where per-thread or per-context state belongs
        (database connections, a tracing context), which signals cannot
        reach: they are sent by the worker, not always where the code runs.

        Contexts are entered in the order they were added.  They are part
        of the job: an exception they raise is the job's error, retried as
        the task's own would be, and a task's ``timeout`` counts their time.
        Add them before :meth:`start_workers`; :meth:`execute` does not use
        them.  See :mod:`spinach.hooks`.
        """
        self._hooks.add(context, async_context)

    # -- tasks ----------------------------------------------------------

    def task(self, func: Optional[Callable[..., Any]] = None, **options: Any) -> Any:
        """Decorator to register a task directly on the Engine.

        Takes the options of :meth:`spinach.task.Tasks.task`.  Fine for tiny
        projects; larger ones compose :class:`~spinach.task.Tasks` registries.
        """
        return self._own_tasks.task(func, **options)

    def attach_tasks(self, tasks: Tasks) -> None:
        """Attach a set of tasks.

        A task cannot be scheduled or executed before it is attached to an
        Engine.  Attaching the same registry again is harmless; a task name
        already used by another task of this Engine is an error.

        >>> tasks = Tasks()
        >>> spin.attach_tasks(tasks)
        """
        with self._lock:
            for task in tasks:
                self._check_new(task)
            for task in tasks:
                self._add(task)
            tasks._attached(self)
            self._refresh_worker_registrations()

    def _register_task(self, task: Task) -> None:
        """Add a task registered on an attached registry after attachment."""
        with self._lock:
            self._check_new(task)
            self._add(task)
            self._refresh_worker_registrations()

    def _check_new(self, task: Task) -> None:
        known = self._tasks.get(task.name)
        if known is not None and known is not task:
            raise InvalidTaskError(
                f"a task named {task.name!r} is already attached to the Engine "
                f"of namespace {self._namespace!r}"
            )

    def _add(self, task: Task) -> None:
        if self._tasks.get(task.name) is task:
            return
        self._tasks = {**self._tasks, task.name: task}
        by_func = dict(self._by_func)
        # A function registered under two names cannot identify a task.
        by_func[task.func] = None if task.func in by_func else task
        self._by_func = by_func

    def _refresh_worker_registrations(self) -> None:
        if self._running is not None:
            tasks = list(self._tasks.values())
            self._broker.set_concurrency_keys(tasks)
            self._broker.register_periodic_tasks(tasks)

    def _resolve(self, ref: TaskRef) -> Task:
        if isinstance(ref, str):
            task = self._tasks.get(ref)
            if task is None:
                raise UnknownTaskError(
                    f"no task named {ref!r} is attached to the Engine of namespace "
                    f"{self._namespace!r}; known tasks: {sorted(self._tasks) or 'none'}"
                )
            return task
        if isinstance(ref, Task):
            task = self._tasks.get(ref.name)
            if task is None:
                raise UnknownTaskError(f"task {ref.name!r} is not attached to this Engine")
            return task
        try:
            task = self._by_func[ref]
        except (KeyError, TypeError):
            raise UnknownTaskError(
                f"{getattr(ref, '__qualname__', ref)!r} is not a task attached to the "
                f"Engine of namespace {self._namespace!r}"
            ) from None
        if task is None:
            raise UnknownTaskError(
                f"{getattr(ref, '__qualname__', ref)!r} is registered under several task "
                "names; schedule it by name"
            )
        return task

    # -- scheduling -----------------------------------------------------

    def _make_job(
        self,
        ref: TaskRef,
        at: Optional[datetime],
        args: Tuple[Any, ...],
        kwargs: Dict[str, Any],
        now: Optional[float] = None,
    ) -> Job:
        task = self._resolve(ref)
        task.check_arguments(args, kwargs)
        check_arguments(task.name, args, kwargs, self._limits)
        if at is None:
            start = self._broker.clock.time() if now is None else now
        elif isinstance(at, datetime):
            start = to_timestamp(at)
        else:
            raise TypeError(f"at must be a datetime, not {type(at).__name__}")
        job = Job._create(
            task.name,
            task.queue,
            start,
            task.max_retries,
            args,
            kwargs,
            new_job_id(),
            0,
            JobStatus.NOT_SET,
        )
        job._asap = at is None
        self._follow(job, task)
        if task.unique is not False:
            job.unique = task.unique_digest(args, kwargs)
        self._broker.codec.prepare(job)  # too large: refused here, in the caller
        return job

    def _enqueue(self, jobs: Sequence[Job]) -> None:
        """Enqueue jobs in one call to the broker, then report refused duplicates."""
        self._broker.enqueue_jobs(jobs)
        self._check_duplicates(jobs)

    def _check_duplicates(self, jobs: Sequence[Job]) -> None:
        duplicates = [job for job in jobs if job.duplicate]
        if not duplicates:
            return
        for job in duplicates:
            logger.debug("Job of unique task %s not scheduled: job %s holds its key",
                         job.task_name, job.id)  # fmt: skip
            # It stands for the live job: its date, arguments and record, not the
            # call's. Best effort: the jobs are scheduled, an error here must
            # not say otherwise (id and status are the live job's already).
            try:
                record = self._broker.get_job(job.id_hex)
            except Exception:
                logger.warning("Could not read the record of job %s", job.id, exc_info=True)
                record = None
            if record is not None:
                for name in _RECORD_ATTRIBUTES:
                    setattr(job, name, getattr(record, name))
        refused = [
            job
            for job in duplicates
            if (task := self._tasks.get(job.task_name)) is not None and task.on_duplicate == "raise"
        ]
        if refused:
            first = refused[0]
            raise DuplicateJobError(
                f"not scheduled: job {first.id} of unique task {first.task_name!r} holds "
                f"the same key and is {first.status.name.lower()}"
                + (f" ({len(refused)} duplicates in all)" if len(refused) > 1 else ""),
                refused,
                [job for job in jobs if not job.duplicate],
            )

    def _follow(self, job: Job, task: Task) -> None:
        """Set what is kept of ``job``: its record and result, as its task says."""
        job._engine = self
        if task.track or (task.track is None and self._track_jobs):
            job.track = self._record_ttl
        if task.store_result is not False:
            job.result_ttl = (
                self._record_ttl if task.store_result is True else _ttl_seconds(task.store_result)
            )

    def _cron_run(self, task: Task, at: datetime, run_id: uuid.UUID) -> Job:
        """The job of a tick of a cron task, followed as its task says."""
        job = Job(task.name, task.queue, at, task.max_retries, id=run_id)
        self._follow(job, task)
        return job

    def schedule(self, task: TaskRef, *args: Any, **kwargs: Any) -> Job:
        """Schedule a job to be executed as soon as possible.

        The arguments are checked against the task's signature and must be
        JSON serialisable; otherwise nothing is scheduled and
        :class:`~spinach.exc.InvalidJobSignatureError` or
        :class:`~spinach.exc.SerializationError` is raised.

        :arg task: the task or its name to execute in the background
        :arg args: args to be passed to the task function
        :arg kwargs: kwargs to be passed to the task function
        :return: the Job that was created and scheduled
        """
        job = self._make_job(task, None, args, kwargs)
        self._enqueue([job])
        return job

    def schedule_at(self, task: TaskRef, at: datetime, *args: Any, **kwargs: Any) -> Job:
        """Schedule a job to be executed in the future.

        :arg task: the task or its name to execute in the background
        :arg at: date at which the job should start.  It is advised to pass
            a timezone aware datetime to lift any ambiguity; a naive
            datetime is taken as UTC.
        :arg args: args to be passed to the task function
        :arg kwargs: kwargs to be passed to the task function
        :return: the Job that was created and scheduled
        """
        job = self._make_job(task, at, args, kwargs)
        self._enqueue([job])
        return job

    def schedule_batch(self, batch: Batch) -> List[Job]:
        """Schedule many jobs at once, in one call to the broker.

        Every job is validated first: if one is invalid, none is scheduled.

        :arg batch: :class:`~spinach.task.Batch` instance containing jobs to
            schedule
        :return: the Jobs that were created and scheduled
        """
        jobs = self._make_batch(batch)
        if jobs:
            try:
                self._enqueue(jobs)
            except DuplicateJobError:
                batch._mark_scheduled()  # the other jobs were scheduled
                raise
        batch._mark_scheduled()
        return jobs

    def prepare_batch(self, batch: Batch) -> PreparedBatch:
        """Check and encode every job of ``batch`` now, to enqueue them later.

        For code that enqueues on an event, such as a database commit
        (:func:`spinach.contrib.spinachd.schedule_on_commit`): every check
        of :meth:`schedule_batch` runs here (unknown task, signature, JSON,
        size), so a mistake raises in the caller, and the jobs carry their
        arguments as they are now, whatever the caller changes afterwards.
        :meth:`PreparedBatch.schedule` enqueues them, all or none.
        """
        jobs = self._make_batch(batch)
        batch._mark_scheduled()
        return PreparedBatch(self, jobs)

    def _make_batch(self, batch: Batch) -> List[Job]:
        batch._check_not_scheduled()
        now = self._broker.clock.time()
        return [self._make_job(i.task, i.at, i.args, i.kwargs, now) for i in batch.jobs_to_create]

    # -- scheduling from an event loop ------------------------------------

    async def aschedule(self, task: TaskRef, *args: Any, **kwargs: Any) -> Job:
        """Like :meth:`schedule`, for code running in an event loop (FastAPI, aiohttp...).

        The job is validated in the caller, as with :meth:`schedule`; the
        call to the broker runs in the loop's default executor, so the loop
        is never blocked by a round trip to Redis.
        """
        job = self._make_job(task, None, args, kwargs)
        await self._enqueue_in_executor([job])
        return job

    async def aschedule_at(self, task: TaskRef, at: datetime, *args: Any, **kwargs: Any) -> Job:
        """Like :meth:`schedule_at`, without blocking the event loop; see :meth:`aschedule`."""
        job = self._make_job(task, at, args, kwargs)
        await self._enqueue_in_executor([job])
        return job

    async def aschedule_batch(self, batch: Batch) -> List[Job]:
        """Like :meth:`schedule_batch`, without blocking the event loop; see :meth:`aschedule`."""
        jobs = self._make_batch(batch)
        if jobs:
            try:
                await self._enqueue_in_executor(jobs)
            except DuplicateJobError:
                batch._mark_scheduled()  # the other jobs were scheduled
                raise
        batch._mark_scheduled()
        return jobs

    async def _enqueue_in_executor(self, jobs: Sequence[Job]) -> None:
        loop = asyncio.get_running_loop()
        # Duplicates are read back there too: no round trip in the loop.
        await loop.run_in_executor(None, self._enqueue, jobs)

    def execute(self, task: TaskRef, *args: Any, **kwargs: Any) -> Any:
        """Run a task now, in the calling thread, and return what it returns.

        For tests and scripts that need a task's work done at once.  The task
        must be attached to this Engine and the arguments are checked as
        :meth:`schedule` checks them (:class:`~spinach.exc.UnknownTask`,
        :class:`~spinach.exc.InvalidJobSignatureError`,
        :class:`~spinach.exc.SerializationError`), but the job never goes
        through a broker or a worker:

        - no :class:`~spinach.job.Job` is created and no signal is sent, so
          integrations (Sentry, Datadog, Django's database hooks, Flask's
          application context) do not see it;
        - an exception raised by the task propagates to the caller, unchanged:
          ``max_retries`` does not apply, and ``RetryException`` and
          ``AbortException`` are raised like any other;
        - ``max_concurrency``, ``rate_limit`` and ``unique`` do not apply;
        - the task gets the arguments as they were given, not as JSON would
          carry them (a tuple stays a tuple), and runs in the caller's
          ``contextvars`` context.

        An ``async def`` task runs to completion in its own event loop; from
        a thread that is already running a loop, await the task's function
        instead: this raises :class:`~spinach.exc.SpinachError`.

        :arg task: the task or its name
        :arg args: args to be passed to the task function
        :arg kwargs: kwargs to be passed to the task function
        :return: what the task function returned
        """
        resolved = self._resolve(task)
        resolved.check_arguments(args, kwargs)
        check_arguments(resolved.name, args, kwargs)
        logger.debug("Executing task %s in the caller", resolved.name)
        if not resolved.is_async:
            return resolved.func(*args, **kwargs)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(resolved.func(*args, **kwargs))
        raise SpinachError(
            f"cannot execute the async task {resolved.name!r} from a running event loop: "
            "await its function instead"
        )

    # -- following jobs -------------------------------------------------

    def get_job(self, job_id: JobId) -> Optional[Job]:
        """Return the current state of a tracked job, or ``None`` if there is no record of it.

        The :class:`~spinach.job.Job` returned carries its record: status,
        task, queue, arguments, retries, ``at``, when it was enqueued,
        started and finished, the worker that runs or ran it, the error of
        its last failed attempt, and whether its cancellation was requested.
        Only tracked jobs have a record (see ``track_jobs``); a finished
        job's record is forgotten after ``finished_jobs_ttl``.

        :arg job_id: the job's id, a :class:`uuid.UUID` or its string form
            (with or without dashes)
        :raises ValueError: if ``job_id`` is not a job id
        """
        job = self._broker.get_job(_job_id_hex(job_id))
        if job is not None:
            job._engine = self
        return job

    def cancel(self, job_id: JobId) -> JobStatus:
        """Cancel a tracked job; return its status once the request is made.

        - A job not started yet (queued, due later, waiting for a
          concurrency slot, or waiting for a retry) is removed atomically:
          it never starts, even if a worker is fetching at that instant.
          Returns ``JobStatus.CANCELLED``.
        - A running job is asked to stop: an async task is cancelled at its
          next ``await``; a task running on a thread sees
          ``spinach.current_job().cancel_requested`` become true (see
          :meth:`~spinach.job.Job.raise_if_cancelled`).  Returns
          ``JobStatus.RUNNING``; the job ends ``CANCELLED`` if it stops
          because of the request.
        - A finished job is left alone; its final status is returned.

        :raises spinach.exc.JobNotFoundError: if there is no record of the
            job (unknown id, a job not tracked, or its record expired)
        """
        return self.cancel_jobs([job_id])[0]

    def cancel_jobs(self, job_ids: Sequence[Union[JobId, Job]]) -> List[JobStatus]:
        """Cancel several tracked jobs (a whole batch) in one atomic call.

        Each one as :meth:`cancel` does; returns their statuses in order.
        No job is cancelled if one of them has no record.

        :raises spinach.exc.JobNotFoundError: naming the first job without a record
        """
        ids = [j.id_hex if isinstance(j, Job) else _job_id_hex(j) for j in job_ids]
        if not ids:
            return []
        statuses = self._broker.cancel_jobs(ids)
        for job_id, status in zip(ids, statuses):
            if status is None:
                raise self._not_found(job_id)
        return [status for status in statuses if status is not None]

    def wait_result(self, job: Job, timeout: Optional[float] = None) -> Any:
        """Wait for a job's result; see :meth:`spinach.job.Job.result`."""
        if not job.result_ttl:
            raise ResultNotStoredError(
                f"task {job.task_name!r} does not store results: give it store_result=True "
                "to wait for what its jobs return"
            )
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError(f"timeout must be a number of seconds, not {timeout!r}")
            if not timeout >= 0:  # NaN too
                raise ValueError(f"timeout must be 0 or more seconds, not {timeout!r}")
        outcome = self._broker.wait_result(job.id_hex, timeout)
        if outcome is None:
            raise JobResultTimeoutError(
                f"job {job.id} of task {job.task_name!r} did not finish within {timeout} s"
            )
        status, value, error = outcome
        if status is JobStatus.SUCCEEDED:
            return value
        if status is JobStatus.CANCELLED:
            raise JobCancelledError(f"job {job.id} of task {job.task_name!r} was cancelled")
        described = f"{error.type}: {error.message}" if error is not None else "unknown error"
        raise JobFailedError(
            f"job {job.id} of task {job.task_name!r} failed: {described}",
            job_id=job.id,
            error=error,
        )

    async def await_result(self, job: Job, timeout: Optional[float] = None) -> Any:
        """Wait for a job's result without blocking the event loop; see :meth:`wait_result`.

        The blocking wait runs in a daemon thread of its own, not in the
        loop's executor: waiters never starve the application's
        ``to_thread`` calls, and the timeout counts from this call.
        """
        if not job.result_ttl or (timeout is not None and not _valid_timeout(timeout)):
            return self.wait_result(job, timeout)  # raises in the caller, at once
        loop = asyncio.get_running_loop()
        waiting: asyncio.Future[Any] = loop.create_future()

        def settle(error: Optional[BaseException], value: Any) -> None:
            if waiting.done():  # cancelled meanwhile
                return
            if error is not None:
                waiting.set_exception(error)
            else:
                waiting.set_result(value)

        def wait() -> None:
            error: Optional[BaseException] = None
            value: Any = None
            try:
                value = self.wait_result(job, timeout)
            except BaseException as exc:  # handed to the awaiting task
                error = exc
            try:
                loop.call_soon_threadsafe(settle, error, value)
            except RuntimeError:  # the loop is closed: nobody awaits any more
                pass

        start_thread(wait, f"{self._namespace}-result-{job.id_hex[:8]}")
        return await waiting

    # -- failed jobs ------------------------------------------------------

    def failed_jobs(
        self, task: Optional[TaskRef] = None, start: int = 0, count: Optional[int] = 100
    ) -> List[FailedJob]:
        """Jobs that failed for good, newest first (see :mod:`spinach.failures`).

        :arg task: only those of this task (a name, or a task attached here)
        :arg start: index of the first one to return
        :arg count: how many to return at most (``None``: all)
        """
        if task is None:
            return self._broker.failed_jobs(start, count)
        name = _task_name(task)
        found = [f for f in self._broker.failed_jobs() if f.job.task_name == name]
        return found[start:] if count is None else found[start : start + count]

    def failed_jobs_count(self) -> int:
        """How many failed jobs the registry holds."""
        return self._broker.failed_jobs_count()

    def get_failed_job(self, job_id: JobId) -> Optional[FailedJob]:
        """A job of the registry of failed jobs, or ``None``."""
        return self._broker.get_failed_job(_job_id_hex(job_id))

    def requeue_failed(
        self,
        job_ids: Optional[Sequence[JobId]] = None,
        *,
        task: Optional[TaskRef] = None,
        all: bool = False,
    ) -> int:
        """Run failed jobs again: some by id, all those of a task, or all of them.

        Each goes back to its queue, due now, with its retries reset; its
        failures so far are kept in its :attr:`~spinach.failures.FailedJob.history`
        should it fail again, and a tracked job's record follows it.  The
        job keeps its id, arguments and queue.  Returns how many were
        requeued (one requeued or purged meanwhile by someone else is
        skipped, and so is one whose payload was set aside as unreadable).

        :raises spinach.exc.JobNotFoundError: for an id not in the registry
        :raises TypeError: unless exactly one of ``job_ids``, ``task`` and
            ``all=True`` is given
        """
        selected = self._select_failed(job_ids, task, all)
        unreadable = [failed for failed in selected if not failed.readable]
        if unreadable:
            logger.warning(
                "Not requeueing %d failed jobs whose payload was set aside as unreadable "
                "(e.g. job %s): inspect them (FailedJob.payload), then purge them",
                len(unreadable),
                unreadable[0].job.id,
            )
        now = self._broker.clock.time()
        pairs = []
        for failed in selected:
            if not failed.readable:
                continue
            old = failed.job
            job = Job._create(
                old.task_name, old.queue, now, old.max_retries, old.task_args,
                old.task_kwargs, old.id_hex, 0, JobStatus.NOT_SET,
            )  # fmt: skip
            job.track, job.result_ttl, job._asap = old.track, old.result_ttl, True
            job.unique = old.unique
            job._engine = self
            pairs.append((failed, job))
        moved = 0
        for start in range(0, len(pairs), 1000):
            moved += len(self._broker.requeue_failed(pairs[start : start + 1000]))
        logger.info("Requeued %d failed jobs of namespace %r", moved, self._namespace)
        if moved < len(pairs):
            logger.warning(
                "%d failed jobs of namespace %r were not requeued: requeued or purged "
                "meanwhile, or jobs of unique tasks whose key a live job holds (they stay "
                "with the failed jobs)",
                len(pairs) - moved,
                self._namespace,
            )
        return moved

    def purge_failed(
        self,
        job_ids: Optional[Sequence[JobId]] = None,
        *,
        task: Optional[TaskRef] = None,
        all: bool = False,
    ) -> int:
        """Forget failed jobs: some by id, all those of a task, or all of them.

        Returns how many were forgotten.  Same selection as :meth:`requeue_failed`.
        """
        selected = self._select_failed(job_ids, task, all)
        ids = [failed.job.id_hex for failed in selected]
        purged = sum(
            self._broker.purge_failed(ids[start : start + 1000])
            for start in range(0, len(ids), 1000)
        )
        logger.info("Purged %d failed jobs of namespace %r", purged, self._namespace)
        return purged

    def _select_failed(
        self, job_ids: Optional[Sequence[JobId]], task: Optional[TaskRef], all: bool
    ) -> List[FailedJob]:
        given = (job_ids is not None) + (task is not None) + bool(all)
        if given != 1:
            raise TypeError("give exactly one of job_ids, task=... or all=True")
        if all:
            return self._broker.failed_jobs()
        if task is not None:
            return self.failed_jobs(task, count=None)
        assert job_ids is not None
        if isinstance(job_ids, (str, uuid.UUID)):
            raise TypeError("job_ids is a list of ids: pass [job_id] for one")
        selected = []
        for job_id in job_ids:
            failed = self._broker.get_failed_job(_job_id_hex(job_id))
            if failed is None:
                raise JobNotFoundError(
                    f"job {job_id} is not in the registry of failed jobs of namespace "
                    f"{self._namespace!r} (unknown, requeued, purged, or expired)"
                )
            selected.append(failed)
        return selected

    def _not_found(self, job_id_hex: str) -> JobNotFoundError:
        return JobNotFoundError(
            f"no record of job {uuid.UUID(hex=job_id_hex)} in namespace {self._namespace!r}: "
            "unknown id, a job of a task that is not tracked (track=True), or its record "
            "expired"
        )

    # -- workers --------------------------------------------------------

    def start_workers(
        self,
        number: int = 5,
        queue: Union[str, Sequence[str]] = DEFAULT_QUEUE,
        block: bool = True,
        stop_when_queue_empty: bool = False,
        workers_class: Type[BaseWorkers] = ThreadWorkers,
    ) -> None:
        """Start the workers.

        :arg number: number of workers to launch; each running job uses one
        :arg queue: name of the queue to consume, or a list of names
            served in strict priority order (``["high", "default", "low"]``):
            a free slot takes a job of a queue only when the queues before
            it have no runnable job, all in the same round trip.  A busy
            queue can starve the ones after it: give them workers of their
            own where they must progress whatever the load.
        :arg block: whether to block the calling thread until the workers
            stop.  In the main thread, SIGINT and SIGTERM then stop them
            gracefully: running jobs finish, and a second signal forces the
            exit.
        :arg stop_when_queue_empty: stop the workers once the queue is empty
            and nothing runs any more; jobs waiting for a future date do not
            keep them running.  Useful for one-off scripts and tests.
        :arg workers_class: :class:`~spinach.worker.ThreadWorkers` (default)
            or :class:`~spinach.worker.AsyncioWorkers`

        If the workers' machinery fails for good (a bug, not a broker
        outage, which it rides out), a blocking call raises
        :class:`~spinach.exc.WorkersError` once the running jobs are over,
        so that the process exits and its supervisor restarts it.

        Workers stopped from one of their jobs drain in the background; a
        new start waits until they have, and raises
        :class:`~spinach.exc.WorkersError` if called from a job meanwhile.
        """
        queue = _checked_queues(queue)
        if not (isinstance(workers_class, type) and issubclass(workers_class, BaseWorkers)):
            raise WorkersError(
                f"workers_class must be a BaseWorkers subclass, not {workers_class!r}"
            )
        handlers = _StopSignals() if block and _in_main_thread() else None
        try:
            if handlers is not None:
                handlers.install()  # before anything starts: ^C at any time stops cleanly
            while True:
                with self._lock:
                    if self._running is not None:
                        raise WorkersError(
                            f"workers of the Engine of namespace {self._namespace!r} are "
                            "already running; stop them before starting new ones"
                        )
                    # A run stopped from one of its tasks may still be draining;
                    # it stops the broker when done: start once it is. Checked
                    # under the lock, so that a stop beginning now is seen.
                    draining = self._last_run
                    if draining is not None and not draining.stopped.is_set() and in_job():
                        # Waiting would deadlock (the job keeps the run draining) and
                        # starting now would have that run stop the broker under us.
                        raise WorkersError(
                            f"the previous workers of namespace {self._namespace!r} are "
                            "still stopping; start new ones from outside a job"
                        )
                    if draining is None or draining.stopped.is_set():
                        # Everything is started before the Engine says it runs: a
                        # stop_workers() from another thread waits on the lock until then.
                        running = self._start(number, queue, stop_when_queue_empty, workers_class)
                        if handlers is not None:
                            running.on_stopped = handlers.wake
                        running.arbiter.start()
                        self._running = self._last_run = running
                        break
                draining.stopped.wait()
            logger.info(
                "Started %d %s on queue %r of namespace %r",
                number,
                workers_class.__name__,
                queue,
                self._namespace,
            )
            if handlers is not None:
                self._block_until_stopped(running, handlers)
            elif block:
                running.stopped.wait()
        finally:
            if handlers is not None:
                handlers.restore()
        if block and running.crash is not None:
            raise WorkersError(
                f"the workers of namespace {self._namespace!r} stopped because their "
                f"machinery failed: {running.crash!r}"
            ) from running.crash

    def _start(
        self,
        number: int,
        queue: Queues,
        stop_when_queue_empty: bool,
        workers_class: Type[BaseWorkers],
    ) -> _Running:
        broker = self._broker
        runner = JobRunner(
            self._namespace, self._tasks_get, broker.clock, self._limits, self, self._hooks
        )
        results = Results()
        workers = workers_class(number, self._namespace, runner, results.put, broker.notify)
        broker.on_cancel_requested = workers.request_cancel
        broker.worker_slots = number  # registered by start(), for inspection
        try:
            broker.start(queue)
            tasks = list(self._tasks.values())
            broker.set_concurrency_keys(tasks)
            broker.register_periodic_tasks(tasks)
        except BaseException:
            workers.stop()
            broker.stop()
            raise
        running: Optional[_Running] = None

        def on_crash(exc: BaseException) -> None:
            assert running is not None
            running.crash = exc
            self._stop_running(running, join_arbiter=False, in_new_thread=True)

        arbiter = Arbiter(
            broker,
            workers,
            results,
            queue,
            self._namespace,
            runner,
            on_queue_empty=self._stop_when_empty if stop_when_queue_empty else None,
            on_crash=on_crash,
            cron=CronPlanner(self._namespace, broker, lambda: self._tasks, self._cron_run),
        )
        running = _Running(queue, workers, results, arbiter)
        return running

    def _tasks_get(self, name: str) -> Optional[Task]:
        return self._tasks.get(name)

    def _stop_when_empty(self) -> None:
        logger.info("Queue %r is empty, stopping workers", self._running and self._running.queue)
        self.stop_workers(_join_arbiter=False)

    def stop_workers(self, _join_arbiter: bool = True) -> None:
        """Stop the workers and wait for them to terminate.

        No new job starts; jobs fetched but not started go back to the
        broker at once; running jobs finish, while the worker keeps
        heart-beating and acknowledges each as it ends, however long it
        takes; then it leaves the broker.  Called from a task (sync or
        async), it only starts the stop and returns.
        """
        with self._lock:
            running = self._running
            if running is None:
                return
            self._running = None
        # A task cannot wait for its own end: let another thread do it.
        self._stop_running(running, _join_arbiter, in_new_thread=in_job())

    def _stop_running(self, running: _Running, join_arbiter: bool, in_new_thread: bool) -> None:
        with self._lock:
            if self._running is running:
                self._running = None
        if in_new_thread:
            start_thread(self._stop, f"{self._namespace}-stopper", running, True)
        else:
            self._stop(running, join_arbiter)

    def _stop(self, running: _Running, join_arbiter: bool) -> None:
        if running.stopped.is_set():
            return
        running.arbiter.drain()  # keeps heart-beating and acknowledging
        running.workers.begin_stop()  # unstarted jobs are handed back now
        running.workers.join()  # running jobs finish
        running.arbiter.stop(join=join_arbiter)
        running.results.flush(self._broker)
        self._broker.stop()
        logger.info("Workers of namespace %r stopped", self._namespace)
        running.stopped.set()
        running.on_stopped()

    def _block_until_stopped(self, running: _Running, handlers: _StopSignals) -> None:
        """Wait in the main thread; the first signal stops gracefully, a second forces.

        The main thread only ever waits on the self-pipe: the stop runs in
        another thread, so that a second signal, whichever thread the
        kernel delivers it to, still reaches the main thread at once.
        """
        stopping = False
        try:
            while not running.stopped.is_set():
                handlers.wait()
                if handlers.received and not stopping:
                    stopping = True
                    # Nothing new starts from here on, before anyone is told.
                    running.arbiter.drain()
                    running.workers.begin_stop()
                    logger.info(
                        "Received %s: stopping once running jobs finish (send it again to force)",
                        handlers.received[0].name,
                    )
                    self._stop_running(running, join_arbiter=True, in_new_thread=True)
        except KeyboardInterrupt:
            if handlers.received:
                logger.warning(
                    "Second signal: forcing exit, %d running jobs abandoned",
                    running.workers.in_flight,
                )
            raise


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _checked_queues(queue: object) -> Union[str, Tuple[str, ...]]:
    """The queue of start_workers(): a valid name, or a tuple of distinct valid names."""
    if isinstance(queue, str):
        return validate_name("queue", queue, WorkersError)
    if not isinstance(queue, (list, tuple)):
        raise WorkersError(f"queue must be a name or a list of names, not {queue!r}")
    names = tuple(validate_name("queue", name, WorkersError) for name in queue)
    if not names:
        raise WorkersError("queue must name at least one queue")
    if len(set(names)) != len(names):
        raise WorkersError(f"queue names a queue twice: {list(names)!r}")
    return names[0] if len(names) == 1 else names


class PreparedBatch:
    """Jobs checked and encoded by :meth:`Engine.prepare_batch`, not enqueued yet."""

    def __init__(self, engine: Engine, jobs: List[Job]) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._done = False
        #: The jobs, as they will be enqueued.
        self.jobs = jobs

    def schedule(self) -> List[Job]:
        """Enqueue the jobs in one call to the broker; once only.

        :raises SpinachError: if they were enqueued already (or a call failed:
            a job may then be in the broker, and enqueueing it twice could run
            it twice)
        """
        with self._lock:
            if self._done:
                raise SpinachError("this PreparedBatch was scheduled already")
            self._done = True
        if self.jobs:
            self._engine._enqueue(self.jobs)
        return self.jobs


class _StopSignals:
    """SIGINT and SIGTERM handlers of a blocking ``start_workers``.

    The main thread waits on a socket pair that is also the process's
    wake-up file descriptor (:func:`signal.set_wakeup_fd`): whichever thread
    the kernel delivers a signal to, its C-level handler writes there and
    wakes the main thread, which then runs the Python handler.  No thread
    needs to block signals, so processes started by tasks keep the default
    signal mask.  The handler takes no lock; a second signal raises
    KeyboardInterrupt.
    """

    def __init__(self) -> None:
        self.received: List[signal.Signals] = []
        self._previous: Dict[int, Any] = {}
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._previous_wakeup_fd = -1

    def install(self) -> None:
        self._previous_wakeup_fd = signal.set_wakeup_fd(
            self._writer.fileno(), warn_on_full_buffer=False
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        renew_after_fork(self)

    def _after_fork_in_child(self) -> None:
        # A process forked by a task (multiprocessing...) is not this worker:
        # SIGTERM must end it as it would have before the worker started.
        if self._previous:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(self._previous_wakeup_fd)
            self._previous = {}

    def wake(self) -> None:
        """Wake the waiting main thread (from any thread)."""
        try:
            self._writer.send(b"\0")
        except OSError:  # full (already awake) or closed (already restored)
            pass

    def wait(self) -> None:
        """Block until a signal arrives or :meth:`wake` is called."""
        select.select([self._reader], [], [])
        try:
            while self._reader.recv(4096):
                pass
        except OSError:  # drained
            pass

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if self._previous:
            signal.set_wakeup_fd(self._previous_wakeup_fd)
        self._previous = {}
        self._reader.close()
        self._writer.close()

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.received:
            raise KeyboardInterrupt
        self.received.append(signal.Signals(signum))
