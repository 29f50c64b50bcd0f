"""The result notifier: acknowledges finished jobs to the broker, in batches.

Workers hand over each finished job; the notifier thread sends all the jobs
waiting at that moment in one broker call.  Under load this batches
naturally, and an idle worker acknowledges a job as soon as it ends.  A
failed call is retried with backoff: results are never dropped while the
engine runs.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from typing import List, Optional

from .brokers.base import Broker
from .job import Job
from .utils import start_thread

__all__ = ["ResultNotifier"]

logger = logging.getLogger("spinach.worker")

#: Most jobs acknowledged in one broker call.
MAX_BATCH = 1000


class ResultNotifier:
    """Thread sending job outcomes to the broker.

    :arg broker: broker to acknowledge jobs to
    :arg name: name of the thread
    :arg give_up_after: seconds to keep retrying once stopping
    """

    def __init__(self, broker: Broker, name: str, give_up_after: float = 30.0) -> None:
        self._broker = broker
        self._give_up_after = give_up_after
        self._queue: queue.SimpleQueue[Optional[Job]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0
        self._stopping = threading.Event()
        self._thread = start_thread(self._run, name, start=False)

    @property
    def pending(self) -> int:
        """Jobs handed over and not acknowledged yet."""
        with self._lock:
            return self._pending

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def put(self, job: Job) -> None:
        """Queue a finished job for acknowledgement."""
        with self._lock:
            self._pending += 1
        self._queue.put(job)

    def stop(self) -> None:
        """Acknowledge everything queued so far, then stop the thread."""
        self._stopping.set()
        self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _run(self) -> None:
        done = False
        while not (done and self._queue.empty()):
            batch: List[Job] = []
            item = self._queue.get()
            while True:
                if item is None:
                    done = True
                else:
                    batch.append(item)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._acknowledge(batch)

    def _acknowledge(self, batch: List[Job]) -> None:
        attempt = 0
        waited = 0.0
        while True:
            try:
                self._broker.acknowledge(batch)
                break
            except Exception as exc:
                attempt += 1
                if self._stopping.is_set() and waited >= self._give_up_after:
                    logger.error(
                        "Could not acknowledge %d finished jobs (%s); the broker will "
                        "recover them once this worker is found dead",
                        len(batch),
                        exc,
                    )
                    break
                delay = min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
                logger.warning(
                    "Could not acknowledge %d jobs (%s), retrying in %.2f s", len(batch), exc, delay
                )
                # Pacing a retry, not synchronisation: nothing can make it come sooner.
                threading.Event().wait(delay)
                waited += delay
        with self._lock:
            self._pending -= len(batch)
        self._broker.notify()
