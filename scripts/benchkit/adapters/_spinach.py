"""What ours and the original spinach share: the same public API.

Both are driven through ``Engine``, ``Tasks``, ``Batch`` and
``start_workers``/``stop_workers`` only, so one adapter serves both; the
modules ``ours`` and ``original`` differ in how they build the broker.
The bodies of the realistic workloads (``roundtrip``, ``wait``) are plain
functions: they run on ``ThreadWorkers``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Dict

from benchkit.adapters import Adapter, job_kind
from benchkit.common import BODIES, Probe, hit
from spinach import AsyncioWorkers, Batch, Engine, Tasks, ThreadWorkers

NAMESPACE = "bench"


def noop() -> None:
    hit()


async def sleep() -> None:
    await asyncio.sleep(0.01)
    hit()


class SpinachAdapter(Adapter):
    """The Spinach API, on a broker given by the subclass."""

    #: Options of the tasks (ours tracked: track=True).
    task_options: Dict[str, Any] = {}

    def make_broker(self) -> Any:
        raise NotImplementedError

    def __init__(self, url: str) -> None:
        super().__init__(url)
        tasks = Tasks()
        tasks.task(noop, name="noop", **self.task_options)
        tasks.task(sleep, name="sleep", **self.task_options)
        for kind, (body, _) in BODIES.items():
            tasks.task(body, name=kind, **self.task_options)
        self.engine = Engine(self.make_broker(), namespace=NAMESPACE)
        self.engine.attach_tasks(tasks)

    def enqueue_serial(self, count: int, kind: str = "noop") -> None:
        schedule, task = self.engine.schedule, job_kind(kind)
        for _ in range(count):
            schedule(task)

    def enqueue_batch(self, count: int, kind: str = "noop") -> None:
        batch, task = Batch(), job_kind(kind)
        for _ in range(count):
            batch.schedule(task)
        self.engine.schedule_batch(batch)

    def enqueue_future(self, count: int, at: float) -> None:
        batch, when = Batch(), datetime.fromtimestamp(at, timezone.utc)
        for _ in range(count):
            batch.schedule_at("noop", when)
        self.engine.schedule_batch(batch)

    def run_worker(self, probe: Probe, concurrency: int, workers: str, purpose: str) -> None:
        workers_class = AsyncioWorkers if workers == "asyncio" else ThreadWorkers
        probe.ready()
        self.engine.start_workers(number=concurrency, block=False, workers_class=workers_class)
        probe.done.wait()
        self.engine.stop_workers()
