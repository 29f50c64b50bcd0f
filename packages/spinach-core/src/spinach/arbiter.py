"""The arbiter: the thread that feeds a worker pool from the broker.

Each turn of its loop it

1. heartbeats and recovers the jobs of dead workers, when due;
2. plans the next tick of the cron tasks whose planned tick has passed
   (see :mod:`spinach.cron`);
3. queues the future jobs and periodic tasks now due, when one is due or a
   notification says the schedule changed;
4. acknowledges the jobs the workers finished and fetches up to as many
   jobs as the pool has free slots (from its queues, in priority order),
   in one call;
5. waits for a notification (a job enqueued, a slot freed) or for the next
   due date or tick, whichever comes first: no polling.

When the workers stop it *drains*: it fetches nothing more but goes on
heart-beating and acknowledging each job as it finishes, however long the
running jobs take, so that nothing of a live worker is ever taken over.

A broker error never kills it: it logs once per episode, backs off (really
waiting, at most one heartbeat interval) and goes on.  Should the thread
die all the same, it says so at CRITICAL and the engine stops its workers.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from typing import Callable, Dict, Optional

from . import signals
from .brokers.base import Broker, Queues
from .cron import CronPlanner
from .exc import JobLostError, UnknownTaskError
from .job import Job
from .notifier import Results
from .runner import JobRunner, job_log_extra
from .utils import start_thread
from .worker import BaseWorkers

__all__ = ["UNKNOWN_TASK_GRACE", "Arbiter", "ErrorEpisode"]

logger = logging.getLogger("spinach.arbiter")
job_logger = logging.getLogger("spinach.job")

#: Seconds during which a job of a task this worker does not know is handed
#: back for a worker that knows it, counted from the first time this worker
#: handed it back, before it counts as a failed attempt (a rolling deploy
#: lasts less; a task nobody knows any more then fails, visibly).
UNKNOWN_TASK_GRACE = 3600.0
#: Most jobs of unknown tasks whose first hand-back a worker remembers.
_UNKNOWN_REMEMBERED = 100_000
#: For a minute after it handed a job back, a worker moves due jobs this much
#: later than due: the workers that know the job's task, due to wake at the
#: same moment, get to it first instead of racing the one that does not.
POLITE_DELAY = 0.1


class ErrorEpisode:
    """Backoff and logging of a run of consecutive failures.

    The first failure of an episode is logged at ERROR with its traceback,
    the next ones at DEBUG, and the end of the episode at WARNING with how
    long it lasted: a Redis outage gives three lines, not thousands.
    """

    def __init__(self, what: str, cap: float) -> None:
        self._what = what
        self._cap = cap
        self.failures = 0
        self._since = 0.0

    def failed(self, exc: BaseException) -> float:
        """Record a failure, log it, and return how long to wait before retrying."""
        self.failures += 1
        if self.failures == 1:
            self._since = time.monotonic()
            logger.error("%s failed, retrying with backoff: %s", self._what, exc, exc_info=exc)
        else:
            logger.debug("%s failed again (%d): %s", self._what, self.failures, exc)
        # The exponent is bounded: 2 ** failures would overflow a float.
        ceiling = min(self._cap, 0.05 * 2 ** min(self.failures, 16))
        return random.uniform(ceiling / 2, ceiling)

    def succeeded(self) -> None:
        """Record a success, which ends the episode."""
        if self.failures:
            logger.warning(
                "%s works again after %d failures over %.1f s",
                self._what,
                self.failures,
                time.monotonic() - self._since,
            )
            self.failures = 0


class Arbiter:
    """Feeds ``workers`` with the jobs of ``queue``.

    :arg runner: the runner of the workers; jobs of tasks it does not know
        are handed back for a worker that knows them
    :arg on_queue_empty: if given, called once (from the arbiter thread)
        when the queue is empty and nothing runs or waits for
        acknowledgement; the arbiter then stops.
    :arg on_crash: called (from the dying thread) if the arbiter thread
        ends by an unexpected exception
    :arg cron: plans the ticks of the cron tasks (see :mod:`spinach.cron`)
    """

    def __init__(
        self,
        broker: Broker,
        workers: BaseWorkers,
        results: Results,
        queue: Queues,
        namespace: str,
        runner: JobRunner,
        on_queue_empty: Optional[Callable[[], None]] = None,
        on_crash: Optional[Callable[[BaseException], None]] = None,
        cron: Optional[CronPlanner] = None,
    ) -> None:
        self._broker = broker
        self._cron = cron
        self._workers = workers
        self._results = results
        self._queue = queue
        self._namespace = namespace
        self._runner = runner
        self._on_queue_empty = on_queue_empty
        self._on_crash = on_crash
        self._stop = threading.Event()
        self._draining = threading.Event()
        self._unknown_logged: Dict[str, float] = {}
        # job id -> when this worker first handed it back (monotonic): how long
        # it has been unknown here, whatever its date (a job dated an hour ago
        # is not unknown for an hour).
        self._unknown_since: OrderedDict[str, float] = OrderedDict()
        self._polite_until = float("-inf")  # monotonic
        self._thread = start_thread(self._run, f"{namespace}-arbiter", start=False)

    @property
    def thread(self) -> threading.Thread:
        """The arbiter thread."""
        return self._thread

    def start(self) -> None:
        """Start the arbiter thread."""
        self._thread.start()

    def drain(self) -> None:
        """Fetch no more jobs; keep heart-beating and acknowledging until :meth:`stop`."""
        self._draining.set()
        self._broker.notify()

    def stop(self, join: bool = True) -> None:
        """Ask the arbiter to stop, and wait for it unless ``join`` is False."""
        self._stop.set()
        self._broker.notify()
        started = self._thread.ident is not None
        if join and started and threading.current_thread() is not self._thread:
            self._thread.join()

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:
            logger.critical(
                "The arbiter thread of namespace %r died: this worker fetches, heartbeats and "
                "acknowledges nothing any more and stops now",
                self._namespace,
                exc_info=exc,
            )
            if self._on_crash is not None:
                self._on_crash(exc)

    def _loop(self) -> None:
        broker = self._broker
        clock = broker.clock
        next_heartbeat = 0.0
        next_due: Optional[float] = None
        recompute = True
        errors = ErrorEpisode(
            f"Arbiter of namespace {self._namespace!r}", cap=broker.heartbeat_interval
        )
        while not self._stop.is_set():
            try:
                now = clock.time()
                # Heartbeats are timed on a monotonic clock: a wall clock
                # stepped back must not silence them.
                mono = clock.monotonic()
                # Each heartbeat also re-reads the schedule: a safety net for a
                # notification lost while a connection was down.
                heartbeat = mono >= next_heartbeat or broker.wants_heartbeat()
                if heartbeat:
                    self._recover_dead_workers()
                    next_heartbeat = mono + broker.heartbeat_interval
                polite = POLITE_DELAY if mono < self._polite_until else 0.0
                # A failure to plan or to move future jobs must not also stop
                # the acknowledgement of finished jobs and the fetching: it is
                # raised once they were tried.
                deferred: Optional[Exception] = None
                try:
                    if self._cron is not None:
                        check = self._cron.next_check()
                        if check is not None and now >= check:
                            self._cron.plan(now)
                    if (
                        broker.consume_future_changed()
                        or heartbeat
                        or recompute
                        or (next_due is not None and now >= next_due + polite)
                    ):
                        next_due = broker.move_future_jobs()
                        recompute = False
                except Exception as exc:
                    deferred = exc
                empty, again = self._feed()
                if deferred is not None:
                    raise deferred
                if empty and self._queue_done():
                    assert self._on_queue_empty is not None
                    self._on_queue_empty()
                    return
                errors.succeeded()
            except Exception as exc:
                delay = errors.failed(exc)
                recompute = True
                if self._stop.wait(delay):  # a real wait: notifications do not cut it short
                    return
                continue
            if again:
                continue
            wait = next_heartbeat - clock.monotonic()
            if next_due is not None:
                polite = POLITE_DELAY if clock.monotonic() < self._polite_until else 0.0
                wait = min(wait, next_due + polite - clock.time())
            if self._cron is not None:
                check = self._cron.next_check()
                if check is not None:
                    wait = min(wait, check - clock.time())
            broker.wait_for_event(max(0.0, wait))

    def _recover_dead_workers(self) -> None:
        for job in self._broker.check_dead_workers():
            error = JobLostError(
                f"job {job.id} of task {job.task_name!r} was running on a worker that "
                "died; it is not retryable, so it will not run again"
            )
            job_logger.error("%s", error, extra=job_log_extra(job))
            signals.job_failed.send(self._namespace, job=job, err=error)

    def _feed(self) -> tuple[bool, bool]:
        """Acknowledge finished jobs and fetch jobs for the free slots.

        Return whether the queue looked empty, and whether to go round again
        at once (jobs were handed back and wait for acknowledgement).
        """
        finished = self._results.take()
        draining = self._draining.is_set() or self._stop.is_set()
        free = 0 if draining else self._workers.available_slots
        if not finished and free <= 0:
            return False, False
        try:
            jobs = self._broker.acknowledge_and_fetch(finished, self._queue, max(free, 0))
        except BaseException:
            self._results.give_back(finished)
            raise
        self._results.settled(len(finished))
        handed_back = False
        for job in jobs:
            if self._runner.knows(job.task_name):
                self._workers.submit_job(job)
            else:
                self._hand_back_unknown(job)
                handed_back = True
        return free > 0 and len(jobs) < free, handed_back

    def _hand_back_unknown(self, job: Job) -> None:
        """A job of a task this worker does not know: give it back, or fail it in the end."""
        now = self._broker.clock.time()
        first = self._unknown_since.setdefault(job.id_hex, self._broker.clock.monotonic())
        if len(self._unknown_since) > _UNKNOWN_REMEMBERED:
            self._unknown_since.popitem(last=False)
        age = max(0.0, self._broker.clock.monotonic() - first)
        if age <= UNKNOWN_TASK_GRACE:
            # Early in a deploy, soon again; later, less often (1 s to 1 min).
            delay = min(60.0, max(1.0, age / 4))
            job.hand_back(now + delay)
            self._polite_until = self._broker.clock.monotonic() + 60.0
            self._log_unknown(job, delay)
            self._results.put(job)
            return
        # Unknown here for an hour: it counts as a failed attempt of the job.
        del self._unknown_since[job.id_hex]
        error = UnknownTaskError(
            f"job {job.id} is for task {job.task_name!r}, which no worker serving queue "
            f"{self._queue!r} has known for {UNKNOWN_TASK_GRACE:.0f} s; attach it to the "
            "Engine of the workers of this queue"
        )
        self._runner.fail_unrunnable(job, error)
        self._results.put(job)

    def _log_unknown(self, job: Job, delay: float) -> None:
        now = time.monotonic()
        if now - self._unknown_logged.get(job.task_name, -3600.0) < 60:
            job_logger.debug(
                "Handed back job %s of unknown task %s", job.id, job.task_name,
                extra=job_log_extra(job),
            )  # fmt: skip
            return
        self._unknown_logged[job.task_name] = now
        job_logger.warning(
            "Job %s is for task %r, which this worker does not know (an older version "
            "during a deploy?): handed back for a worker that knows it, due again in %.0f s "
            "(logged once a minute per task)",
            job.id,
            job.task_name,
            delay,
            extra=job_log_extra(job),
        )

    def _queue_done(self) -> bool:
        if self._on_queue_empty is None:
            return False
        if self._workers.in_flight or self._results.pending:
            return False
        return self._broker.is_queue_empty(self._queue)
