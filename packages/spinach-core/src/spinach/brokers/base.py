"""The broker contract: what any Spinach broker must do.

The Engine never knows which broker it runs on; it only calls the methods
below.  ``tests/contract`` checks every broker against this contract with
the same tests, so the in-memory broker and the Redis broker behave alike.

The rules every implementation keeps:

- **Atomicity.** Each method is one atomic transition: it applies entirely
  or not at all, even when it moves several jobs (a batch is all or none).
- **Jobs** travel as their JSON payload (:meth:`spinach.job.Job.serialize`).
  A payload that cannot be read is *set aside* (see :meth:`rejected`) and
  logged, never dropped silently and never allowed to break a worker.
- **Delivery.** A fetched job is recorded as running on the fetching broker
  until it is acknowledged.  A broker that stops heart-beating for
  ``broker_dead_threshold_seconds`` is dead: the first live broker that
  notices re-enqueues its retryable jobs (once) and reports its
  non-retryable ones as failed (never run again).
- **Proof of death (fencing).** Silence proves death only to an observer
  that was itself connected the whole time: a broker adopts another's jobs
  only when its own heartbeats have gone through without a gap longer than
  two heartbeat intervals for at least ``broker_dead_threshold_seconds``.
  After an outage of the storage (or a pause of the observer) nobody
  adopts anything until the live brokers have heartbeated again.  A broker
  that finds it was declared dead says so at ERROR, registers again, and
  the outcome of the jobs it was running is discarded (they were settled
  by the adopter).
- **Unknown tasks.** Workers hand a job of a task they do not know back to
  the broker (``WAITING``, due again a little later, payload unchanged) so
  that a worker that knows it runs it: during a rolling deploy old and new
  workers share queues.
- **Concurrency limits** are counted per task across all brokers of the
  namespace.  A fetched job over its task's limit is *parked* and goes back
  to the front of its queue when a slot frees, so that a crowd of limited
  jobs never slows down the fetching of others.  Counters are changed only
  by fetches, acknowledgements and recovery, never reset by a starting
  worker.  Limits are merged across versions like periodic tasks: a worker
  that knows a task without a limit does not lift another worker's; a limit
  no live worker has declared for ``broker_dead_threshold_seconds`` is
  lifted.
- **Periodic tasks** are enqueued by whichever broker finds them due, once
  per period, on a fixed grid (no drift), skipping the periods missed while
  no worker ran (no catch-up storm).  Registries of workers of different
  versions are merged: a worker declares the periodic tasks it knows and
  never removes the others'.  A periodic task no live worker has declared
  for ``broker_dead_threshold_seconds`` is retired.
- **Acknowledgements are idempotent**: acknowledging a job that is no longer
  recorded as running on this broker (because it was recovered as dead)
  changes nothing.
- **Fork safety**: a broker used in a process forked after it was built
  takes a new identity in the child (id, locks, connections).
- **Job records.** A tracked job (``Job.track`` > 0, written in its
  payload) has a record, changed by the same atomic step as the job:
  enqueued (``QUEUED``/``WAITING``), fetched (``RUNNING``, start date,
  worker), acknowledged (final status, end date, error) or requeued, taken
  over from a dead worker, cancelled.  A finished job's record expires
  ``Job.track`` seconds after it finished.  An untracked job costs nothing.
- **Cancellation** (:meth:`cancel_jobs`) removes a job not started yet from
  wherever it waits (queue, future jobs, parked) in the same atomic step
  that marks it ``CANCELLED``: no fetch can take it afterwards.  A running
  one gets a request, delivered to the broker running it, which sets
  ``cancel_requested`` on the job and calls :attr:`on_cancel_requested`.
- **Failed jobs.** A job acknowledged ``FAILED`` (or failed when its worker
  died) enters the registry of failed jobs in the same step, with its last
  payload and error, bounded by :attr:`failed_jobs_kept` and
  :attr:`failed_jobs_ttl` (see :mod:`spinach.failures`).
- **Results.** A job whose task stores results (``Job.result_ttl`` > 0,
  written in its payload) gets its outcome stored when it is over for good
  (succeeded, failed, cancelled), in the same atomic step, for
  ``Job.result_ttl`` seconds; :meth:`wait_result` blocks until it is.
"""

from __future__ import annotations

import logging
import threading
import uuid
from abc import ABC, abstractmethod
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .._forks import renew_after_fork
from ..clock import Clock, SystemClock
from ..codec import PayloadCodec
from ..cron import CronPlan
from ..exc import NamespaceError
from ..failures import DEFAULT_FAILED_JOBS_KEPT, DEFAULT_FAILED_JOBS_TTL, FailedJob
from ..inspection import LimitInfo, QueueInfo, WorkerInfo
from ..job import Job, JobStatus
from ..outcome import Outcome
from ..task import Task, validate_name

__all__ = ["DEFAULT_DEAD_THRESHOLD", "FETCH_MAX_BYTES", "Broker"]

logger = logging.getLogger("spinach.broker")

#: Seconds without heartbeat after which a worker is considered dead.
DEFAULT_DEAD_THRESHOLD = 60.0
#: Most bytes of payloads one fetch takes (always at least one job).
FETCH_MAX_BYTES = 8 * 1024 * 1024


#: A queue name, or several in priority order.
Queues = Union[str, Sequence[str]]


def queue_names(queue: Queues) -> Tuple[str, ...]:
    """The names of ``queue``: one name, or several in priority order."""
    return (queue,) if isinstance(queue, str) else tuple(queue)


class Broker(ABC):
    """Base class of the brokers: storage and delivery of jobs.

    :arg broker_dead_threshold_seconds: how long a worker may stay silent
        before it is considered dead and its jobs are recovered
    :arg clock: source of time, see :mod:`spinach.clock`
    """

    def __init__(
        self,
        *,
        broker_dead_threshold_seconds: float = DEFAULT_DEAD_THRESHOLD,
        clock: Optional[Clock] = None,
    ) -> None:
        if broker_dead_threshold_seconds <= 0:
            raise ValueError("broker_dead_threshold_seconds must be positive")
        self.broker_dead_threshold_seconds = float(broker_dead_threshold_seconds)
        self.clock: Clock = clock if clock is not None else SystemClock()
        #: How payloads are encoded and decoded: set by the Engine (limits,
        #: signing), used for every payload the broker stores or reads.
        self.codec = PayloadCodec()
        #: Identity of this broker among the workers of its namespace.
        self.id = uuid.uuid4().hex
        self._namespace: Optional[str] = None
        self._event = threading.Event()
        self._future_lock = threading.Lock()
        self._future_changed = True
        #: Bounds of the registry of failed jobs (set by the Engine): how many
        #: are kept (the newest), and for how many seconds.
        self.failed_jobs_kept = DEFAULT_FAILED_JOBS_KEPT
        self.failed_jobs_ttl = int(DEFAULT_FAILED_JOBS_TTL.total_seconds())
        #: Called (from a broker thread) with a running job of this worker
        #: whose cancellation was requested; set by the worker's arbiter.
        self.on_cancel_requested: Callable[[Job], None] = lambda job: None
        #: How many jobs the worker can run at once (set by the Engine before
        #: :meth:`start`), registered for inspection; ``None``: not said.
        self.worker_slots: Optional[int] = None
        renew_after_fork(self)

    def _after_fork_in_child(self) -> None:
        """Take a new identity in a forked child: never share the parent's."""
        self.id = uuid.uuid4().hex
        self._event = threading.Event()
        self._future_lock = threading.Lock()
        self._future_changed = True

    # -- identity -------------------------------------------------------

    @property
    def namespace(self) -> str:
        """Namespace of the Engine using this broker."""
        if self._namespace is None:
            raise NamespaceError("this broker is not bound to a namespace; give it to an Engine")
        return self._namespace

    @namespace.setter
    def namespace(self, namespace: str) -> None:
        validate_name("namespace", namespace, NamespaceError)
        if self._namespace is not None and self._namespace != namespace:
            raise NamespaceError(
                f"this broker is already used by namespace {self._namespace!r}; "
                "give each Engine its own broker"
            )
        self._namespace = namespace

    def copy(self) -> Broker:
        """A new broker of the same kind and settings, bound to no namespace yet.

        Same storage (Redis connection, or memory store), same dead
        threshold and clock: for an Engine of another namespace, since a
        broker serves one namespace (Django's ``override_settings`` of
        ``SPINACH_NAMESPACE`` alone uses it).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot be copied")

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between two heartbeats of a running worker.

        A fifth of the dead threshold (5 s at most), so that a live worker
        whose view was interrupted for up to two intervals is heard from
        again well within the threshold (see *Proof of death* above).
        """
        return min(self.broker_dead_threshold_seconds / 5, 5.0)

    # -- waking the arbiter ---------------------------------------------

    def notify(self) -> None:
        """Wake the thread waiting in :meth:`wait_for_event`."""
        self._event.set()

    def notify_future_changed(self) -> None:
        """Record that future jobs or periodic tasks changed, and wake the waiter."""
        with self._future_lock:
            self._future_changed = True
        self._event.set()

    def consume_future_changed(self) -> bool:
        """Return whether the future changed since the last call, and reset it."""
        with self._future_lock:
            changed, self._future_changed = self._future_changed, False
        return changed

    def wants_heartbeat(self) -> bool:
        """Whether the worker should heartbeat now rather than at its next interval.

        A broker that finds it was declared dead says so, so that it
        registers again at once.
        """
        return False

    def wait_for_event(self, timeout: Optional[float]) -> None:
        """Wait for a notification (a job enqueued, a slot freed) or the timeout."""
        self.clock.wait(self._event, timeout)
        self._event.clear()

    # -- lifecycle of a worker ------------------------------------------

    def start(self, queue: Optional[Queues] = None) -> None:
        """Start what a worker consuming ``queue`` needs (notifications, heartbeat).

        ``queue`` (a name, or names in priority order) lets a broker ignore
        notifications about other queues.
        """

    def stop(self) -> None:
        """Stop what :meth:`start` started and leave the namespace cleanly.

        A broker that still has running jobs stays registered, so that its
        jobs are recovered by the live workers.
        """

    # -- client side -----------------------------------------------------

    @abstractmethod
    def enqueue_jobs(self, jobs: Sequence[Job]) -> None:
        """Enqueue jobs atomically, in one round trip.

        Jobs due now go to their queue as ``QUEUED``, the others wait as
        ``WAITING``; each job's ``status`` is set accordingly once they are
        stored.
        """

    # -- worker side -----------------------------------------------------

    @abstractmethod
    def register_periodic_tasks(self, tasks: Iterable[Task]) -> None:
        """Declare the periodic tasks among ``tasks``, known to this worker.

        A new task is first due now; a task whose definition changed takes
        the new one (a changed period takes effect at the sooner of its old
        due time and one new period from now); a task unchanged keeps its
        schedule.  Periodic tasks declared by other workers are kept: each
        heartbeat declares this worker's tasks again, and a task no live
        worker declared for ``broker_dead_threshold_seconds`` is retired.
        """

    @abstractmethod
    def plan_cron_runs(self, runs: Sequence[Job], planned_at: float) -> CronPlan:
        """Plan the next tick of cron tasks, each offered as a job due at its tick.

        ``planned_at`` is the time the ticks were computed from.  If it is
        later than this broker's time, every tick is refused (the worker's
        clock runs ahead: a tick after a time still to come could skip the
        ticks before it).  Otherwise, atomically, for each job: if its
        ``at`` is later than the last tick planned for its task (or none
        was), it becomes that task's last tick and the job is enqueued (as
        a future job, or queued if due already); else it is dropped.  So a
        tick is planned once, however many workers offer it.
        """

    @abstractmethod
    def set_concurrency_keys(self, tasks: Iterable[Task]) -> None:
        """Declare the ``max_concurrency`` of the tasks given that have one.

        ``None`` lifts nothing at once: the limit is lifted once no live
        worker has declared it for ``broker_dead_threshold_seconds``.
        """

    @abstractmethod
    def get_jobs_from_queue(self, queue: Queues, max_jobs: int) -> List[Job]:
        """Take up to ``max_jobs`` jobs from ``queue`` and mark them running here.

        ``queue`` is a name, or names in strict priority order: a queue is
        taken from only once the queues before it have no runnable job left.
        A fetch takes ``FETCH_MAX_BYTES`` of payloads at most (and always at
        least one job), whatever their number.
        """

    @abstractmethod
    def acknowledge(self, jobs: Sequence[Job]) -> None:
        """Record the outcome of finished jobs, as their ``status`` says.

        ``SUCCEEDED`` and ``FAILED`` jobs are forgotten; ``WAITING`` and
        ``QUEUED`` jobs (retries, or jobs released unstarted by a stopping
        worker) are enqueued again with their new ``at`` and ``retries``.
        A job handed back (:meth:`spinach.job.Job.hand_back`) is enqueued
        again unchanged, due at its hand-back date.
        """

    def acknowledge_and_fetch(
        self, finished: Sequence[Job], queue: Queues, max_jobs: int
    ) -> List[Job]:
        """Acknowledge ``finished`` jobs, then fetch up to ``max_jobs`` (0: none).

        A worker's whole cycle: brokers with round trips do it in one.  Same
        guarantees as :meth:`acknowledge` followed by :meth:`get_jobs_from_queue`.
        """
        if finished:
            self.acknowledge(finished)
        return self.get_jobs_from_queue(queue, max_jobs) if max_jobs > 0 else []

    @abstractmethod
    def move_future_jobs(self) -> Optional[float]:
        """Queue the future jobs and periodic tasks now due.

        Return the timestamp at which the next one is due, or ``None``.
        """

    @abstractmethod
    def check_dead_workers(self) -> List[Job]:
        """Send this broker's heartbeat and recover the jobs of dead workers.

        Follows the *Proof of death* rule above; also declares this worker's
        periodic tasks again and retires those nobody declares any more.
        Return the non-retryable jobs found running on dead workers, now
        ``FAILED``.
        """

    def is_queue_empty(self, queue: Queues) -> bool:
        """Return whether ``queue`` (or each of several) holds no job, parked ones included."""
        return all(self.queue_length(name) == 0 for name in queue_names(queue))

    # -- inspection and maintenance -------------------------------------

    @abstractmethod
    def queue_length(self, queue: str) -> int:
        """Number of jobs waiting in ``queue``, parked ones included."""

    @abstractmethod
    def future_jobs_count(self) -> int:
        """Number of jobs waiting for their start date."""

    @abstractmethod
    def queue_names(self) -> List[str]:
        """Names of the queues that ever held a job, sorted."""

    @abstractmethod
    def queue_info(self, queue: str) -> QueueInfo:
        """Length and oldest job of ``queue``, read in one round trip."""

    @abstractmethod
    def queue_jobs(self, queue: str, start: int, count: int) -> List[Job]:
        """Up to ``count`` jobs waiting in ``queue`` from position ``start`` (0: next to run).

        Reads those jobs only, however long the queue; unreadable payloads
        are left out.
        """

    @abstractmethod
    def future_jobs_summary(self) -> Tuple[int, Optional[float]]:
        """How many jobs wait for their date, and the timestamp of the next due."""

    @abstractmethod
    def future_jobs(self, start: int, count: int) -> List[Job]:
        """Up to ``count`` jobs waiting for their date from position ``start`` (0: soonest)."""

    @abstractmethod
    def workers(self) -> List[WorkerInfo]:
        """The workers registered in the namespace, by id."""

    @abstractmethod
    def running_jobs(self) -> List[Job]:
        """Jobs recorded as running, on any worker of the namespace."""

    @abstractmethod
    def periodic_tasks(self) -> List[tuple[str, float]]:
        """``(task name, next due timestamp)`` of each periodic task, soonest first."""

    def cron_next_runs(self, names: Sequence[str]) -> Dict[str, float]:
        """The tick planned for each cron task of ``names`` that is still to come.

        A task whose last tick planned has passed, or that has none, is left
        out.  The default knows of none: a broker that plans cron ticks
        says which.
        """
        return {}

    def limits(self, tasks: Sequence[Task]) -> List[LimitInfo]:
        """The state of the concurrency and rate limits of ``tasks``, in their order.

        ``tasks`` have a ``max_concurrency`` or a ``rate_limit``; what the
        broker cannot tell is ``None`` (the default tells nothing but the
        limits themselves).  Reads a bounded amount of data per task,
        however many jobs wait.
        """
        return [
            LimitInfo(t.name, t.max_concurrency, None, None, t.rate_limit, None, None)
            for t in tasks
        ]

    @abstractmethod
    def rejected(self, start: int = 0, count: Optional[int] = None) -> List[bytes]:
        """Payloads set aside because they could not be read as jobs, oldest first.

        Only the newest 10,000 are kept.  ``start`` and ``count`` read a
        page of them (``count=None``: to the end).
        """

    def get_job(self, job_id: str) -> Optional[Job]:
        """The record of a tracked job (32 hex digits id), or ``None``.

        The job returned has the status, dates, worker, error and
        ``cancel_requested`` of its record.
        """
        raise NotImplementedError(f"{type(self).__name__} does not keep job records")

    def cancel_jobs(self, job_ids: Sequence[str]) -> List[Optional[JobStatus]]:
        """Cancel tracked jobs atomically (all or none); see *Cancellation* above.

        Return each job's status after the call: ``CANCELLED`` (it will
        never start), ``RUNNING`` (a request was sent), its final status if
        it had finished, ``None`` if it has no record.  If one has no
        record, nothing is changed.
        """
        raise NotImplementedError(f"{type(self).__name__} does not keep job records")

    def wait_result(self, job_id: str, timeout: Optional[float]) -> Optional[Outcome]:
        """Wait until the job's outcome is stored (its task stores results); ``None`` on timeout.

        ``timeout=None`` waits as long as it takes.  The wait blocks on the
        broker (no polling loop).  See :mod:`spinach.outcome`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not store results")

    # -- failed jobs ------------------------------------------------------

    def failed_jobs(self, start: int = 0, count: Optional[int] = None) -> List[FailedJob]:
        """Failed jobs in the registry, newest first; a page of them with ``start``/``count``."""
        raise NotImplementedError(f"{type(self).__name__} keeps no failed jobs")

    def failed_jobs_count(self) -> int:
        """How many failed jobs the registry holds."""
        raise NotImplementedError(f"{type(self).__name__} keeps no failed jobs")

    def get_failed_job(self, job_id: str) -> Optional[FailedJob]:
        """A failed job of the registry, or ``None``."""
        raise NotImplementedError(f"{type(self).__name__} keeps no failed jobs")

    def requeue_failed(self, jobs: Sequence[Tuple[FailedJob, Job]]) -> List[str]:
        """Move failed jobs back to their queue, atomically; return the ids moved.

        Each pair is an entry of the registry and the job to enqueue in its
        place (the Engine resets its retries).  An entry gone or changed
        since it was read (requeued or purged by someone else, or failed
        again) is skipped.  The entry leaves the list of failed jobs but its
        failure is kept, so that the job's history goes on if it fails
        again; a tracked job's record says ``QUEUED`` again, and a stored
        outcome is forgotten.
        """
        raise NotImplementedError(f"{type(self).__name__} keeps no failed jobs")

    def purge_failed(self, job_ids: Sequence[str]) -> int:
        """Forget failed jobs; return how many were in the registry."""
        raise NotImplementedError(f"{type(self).__name__} keeps no failed jobs")

    def _cancel_requested_here(self, job: Optional[Job]) -> None:
        """A cancellation was requested for ``job``, held by this worker (if it is)."""
        if job is None or job.cancel_requested:
            return
        job.cancel_requested = True
        logger.info("Cancellation requested for running job %s (%s)", job.id, job.task_name)
        self.on_cancel_requested(job)

    @abstractmethod
    def flush(self) -> None:
        """Delete everything stored for the namespace (jobs, schedules, counters)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} namespace={self._namespace!r} id={self.id[:8]}>"
