"""Huey with ``RedisHuey``: calling a task enqueues it; a consumer of 8 worker threads.

Huey has no batch enqueue; ``task.schedule(eta=...)`` schedules a date,
and its consumer's scheduler looks for due tasks every
``scheduler_interval`` (default 1 s, kept).
"""

from __future__ import annotations

from datetime import datetime, timezone

from huey import RedisHuey

from benchkit.adapters import Adapter, NotSupported, sync_kind
from benchkit.common import BODIES, Probe, hit


def noop() -> None:
    hit()


class HueyAdapter(Adapter):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.huey = RedisHuey("bench", url=url)
        self.noop = self.huey.task(name="noop")(noop)
        self.tasks = {"noop": self.noop}
        for kind, (body, _) in BODIES.items():
            self.tasks[kind] = self.huey.task(name=kind)(body)

    def enqueue_serial(self, count: int, kind: str = "noop") -> None:
        task = self.tasks[sync_kind(kind)]
        for _ in range(count):
            task()

    def enqueue_future(self, count: int, at: float) -> None:
        # utc=True (the default): Huey wants naive datetimes in UTC.
        eta = datetime.fromtimestamp(at, timezone.utc).replace(tzinfo=None)
        schedule = self.noop.schedule
        for _ in range(count):
            schedule(eta=eta)

    def run_worker(self, probe: Probe, concurrency: int, workers: str, purpose: str) -> None:
        if workers != "threads":
            raise NotSupported("no asyncio worker")
        consumer = self.huey.create_consumer(workers=concurrency, worker_type="thread")
        probe.ready()
        consumer.start()
        probe.done.wait()
        consumer.stop(graceful=True)


make = HueyAdapter
