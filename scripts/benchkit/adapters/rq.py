"""RQ: ``Queue.enqueue``, ``Queue.enqueue_many`` and a ``SimpleWorker``.

RQ runs one job at a time per worker process (``SimpleWorker`` runs it in
the worker process itself instead of a fork per job), so its 8-slot and
1-slot runs are the same.  ``work(max_jobs=...)`` stops it after the
expected jobs; its scheduler is on only for the future jobs.
"""

from __future__ import annotations

from datetime import datetime, timezone

import redis
from rq import Queue, SimpleWorker

from benchkit.adapters import Adapter, NotSupported, sync_kind
from benchkit.common import BODIES, Probe, hit

QUEUE = "bench"


def noop() -> None:
    hit()


#: RQ imports a job's function by its dotted name: the bodies are module-level.
FUNCTIONS = {"noop": noop, **{kind: sync for kind, (sync, _) in BODIES.items()}}


class RQAdapter(Adapter):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.redis = redis.Redis.from_url(url)
        self.queue = Queue(QUEUE, connection=self.redis)

    def enqueue_serial(self, count: int, kind: str = "noop") -> None:
        enqueue, function = self.queue.enqueue, FUNCTIONS[sync_kind(kind)]
        for _ in range(count):
            enqueue(function)

    def enqueue_batch(self, count: int, kind: str = "noop") -> None:
        function = FUNCTIONS[sync_kind(kind)]
        self.queue.enqueue_many([Queue.prepare_data(function) for _ in range(count)])

    def enqueue_future(self, count: int, at: float) -> None:
        when = datetime.fromtimestamp(at, timezone.utc)
        enqueue_at = self.queue.enqueue_at
        for _ in range(count):
            enqueue_at(when, noop)

    def close(self) -> None:
        self.redis.close()

    def run_worker(self, probe: Probe, concurrency: int, workers: str, purpose: str) -> None:
        if workers != "threads":
            raise NotSupported("no asyncio worker")
        worker = SimpleWorker([self.queue], connection=self.redis)
        probe.ready()
        worker.work(
            max_jobs=probe.warmup + probe.expected,
            with_scheduler=purpose == "future",
            logging_level="WARNING",
        )


make = RQAdapter
