"""The arbiter: the thread that feeds a worker pool from the broker.

Each turn of its loop it

1. heartbeats and recovers the jobs of dead workers, when due;
2. queues the future jobs and periodic tasks now due, when one is due or a
   notification says the schedule changed;
3. acknowledges the jobs the workers finished and fetches up to as many
   jobs as the pool has free slots, in one call;
4. waits for a notification (a job enqueued, a slot freed) or for the next
   due date, whichever comes first: no polling.

A broker error never kills it: it logs, backs off and goes on.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Callable, Optional

from . import signals
from .brokers.base import Broker
from .exc import JobLostError
from .notifier import Results
from .runner import job_log_extra
from .utils import start_thread
from .worker import BaseWorkers

__all__ = ["Arbiter"]

logger = logging.getLogger("spinach.arbiter")
job_logger = logging.getLogger("spinach.job")


class Arbiter:
    """Feeds ``workers`` with the jobs of ``queue``.

    :arg on_queue_empty: if given, called once (from the arbiter thread)
        when the queue is empty and nothing runs or waits for
        acknowledgement; the arbiter then stops.
    """

    def __init__(
        self,
        broker: Broker,
        workers: BaseWorkers,
        results: Results,
        queue: str,
        namespace: str,
        on_queue_empty: Optional[Callable[[], None]] = None,
    ) -> None:
        self._broker = broker
        self._workers = workers
        self._results = results
        self._queue = queue
        self._namespace = namespace
        self._on_queue_empty = on_queue_empty
        self._stop = threading.Event()
        self._thread = start_thread(self._run, f"{namespace}-arbiter", start=False)

    @property
    def thread(self) -> threading.Thread:
        """The arbiter thread."""
        return self._thread

    def start(self) -> None:
        """Start the arbiter thread."""
        self._thread.start()

    def stop(self, join: bool = True) -> None:
        """Ask the arbiter to stop, and wait for it unless ``join`` is False."""
        self._stop.set()
        self._broker.notify()
        started = self._thread.ident is not None
        if join and started and threading.current_thread() is not self._thread:
            self._thread.join()

    def _run(self) -> None:
        clock = self._broker.clock
        next_heartbeat = 0.0
        next_due: Optional[float] = None
        failures = 0
        while not self._stop.is_set():
            try:
                now = clock.time()
                # Each heartbeat also re-reads the schedule: a safety net for a
                # notification lost while a connection was down.
                heartbeat = now >= next_heartbeat
                if heartbeat:
                    self._recover_dead_workers()
                    next_heartbeat = now + self._broker.heartbeat_interval
                if (
                    self._broker.consume_future_changed()
                    or heartbeat
                    or (next_due is not None and now >= next_due)
                ):
                    next_due = self._broker.move_future_jobs()
                if self._feed() and self._queue_done():
                    assert self._on_queue_empty is not None
                    self._on_queue_empty()
                    return
                failures = 0
            except Exception:
                failures += 1
                delay = min(10.0, 0.1 * 2**failures) * random.uniform(0.5, 1.0)
                logger.exception("Arbiter error, retrying in %.1f s", delay)
                self._broker.notify_future_changed()  # recompute the schedule next turn
                self._broker.wait_for_event(delay)
                continue
            wake_at = next_heartbeat if next_due is None else min(next_heartbeat, next_due)
            self._broker.wait_for_event(max(0.0, wake_at - clock.time()))

    def _recover_dead_workers(self) -> None:
        for job in self._broker.check_dead_workers():
            error = JobLostError(
                f"job {job.id} of task {job.task_name!r} was running on a worker that "
                "died; it is not retryable, so it will not run again"
            )
            job_logger.error("%s", error, extra=job_log_extra(job))
            signals.job_failed.send(self._namespace, job=job, err=error)

    def _feed(self) -> bool:
        """Acknowledge finished jobs and fetch jobs for the free slots.

        Return whether the queue looked empty.
        """
        finished = self._results.take()
        free = 0 if self._stop.is_set() else self._workers.available_slots
        if not finished and free <= 0:
            return False
        try:
            jobs = self._broker.acknowledge_and_fetch(finished, self._queue, max(free, 0))
        except BaseException:
            self._results.give_back(finished)
            raise
        self._results.settled(len(finished))
        for job in jobs:
            self._workers.submit_job(job)
        return free > 0 and len(jobs) < free

    def _queue_done(self) -> bool:
        if self._on_queue_empty is None:
            return False
        if self._workers.in_flight or self._results.pending:
            return False
        return self._broker.is_queue_empty(self._queue)
