"""Finished jobs on their way back to the broker.

Workers put each finished job here.  The arbiter acknowledges them in the
same broker call that fetches the next jobs (a finished job always frees a
slot, so the arbiter is about to fetch anyway): one round trip per cycle
instead of two, and no acknowledgement waits longer than the arbiter's next
turn, which the worker triggers as it frees its slot.  When the workers
stop, :meth:`Results.flush` acknowledges what is left.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import List

from .brokers.base import Broker
from .job import Job

__all__ = ["MAX_BATCH", "Results"]

logger = logging.getLogger("spinach.worker")

#: Most jobs acknowledged in one broker call.
MAX_BATCH = 1000


class Results:
    """Finished jobs not acknowledged yet, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: List[Job] = []
        self._pending = 0

    @property
    def pending(self) -> int:
        """Jobs handed over and not acknowledged yet."""
        with self._lock:
            return self._pending

    def put(self, job: Job) -> None:
        """Add a finished job."""
        with self._lock:
            self._jobs.append(job)
            self._pending += 1

    def take(self, limit: int = MAX_BATCH) -> List[Job]:
        """Take up to ``limit`` jobs to acknowledge; see :meth:`settled`."""
        with self._lock:
            taken = self._jobs[:limit]
            del self._jobs[:limit]
            return taken

    def give_back(self, jobs: List[Job]) -> None:
        """Return jobs taken but not acknowledged (the broker call failed)."""
        with self._lock:
            self._jobs[:0] = jobs

    def settled(self, count: int) -> None:
        """Record that ``count`` taken jobs were acknowledged."""
        with self._lock:
            self._pending -= count

    def flush(self, broker: Broker, give_up_after: float = 30.0) -> None:
        """Acknowledge every job left, retrying with backoff for a while."""
        attempt = 0
        waited = 0.0
        while True:
            batch = self.take()
            if not batch:
                return
            try:
                broker.acknowledge(batch)
            except Exception as exc:
                self.give_back(batch)
                attempt += 1
                if waited >= give_up_after:
                    logger.error(
                        "Could not acknowledge %d finished jobs (%s); the broker will "
                        "recover them once this worker is found dead",
                        self.pending,
                        exc,
                    )
                    return
                delay = min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
                logger.warning(
                    "Could not acknowledge %d jobs (%s), retrying in %.2f s", len(batch), exc, delay
                )
                threading.Event().wait(delay)  # pacing a retry, not synchronisation
                waited += delay
                continue
            self.settled(len(batch))
