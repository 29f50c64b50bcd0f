"""arq: ``ArqRedis.enqueue_job`` and an ``arq.worker.Worker`` in this process.

arq has no batch enqueue; ``_defer_until`` schedules a date.  The worker
keeps arq's defaults (it polls the queue every ``poll_delay`` = 0.5 s and
keeps results for an hour) with ``max_jobs`` as its concurrency.
"""

from __future__ import annotations

from datetime import datetime, timezone

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker, func

from benchkit.adapters import job_kind
from benchkit.adapters._asyncio import FUNCTIONS, AsyncAdapter
from benchkit.common import Probe


class ArqAdapter(AsyncAdapter):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.settings = RedisSettings.from_dsn(url)
        self.pool = self.run(create_pool(self.settings))

    def enqueue_serial(self, count: int, kind: str = "noop") -> None:
        name = job_kind(kind)

        async def loop() -> None:
            for _ in range(count):
                await self.pool.enqueue_job(name)

        self.run(loop())

    def enqueue_future(self, count: int, at: float) -> None:
        when = datetime.fromtimestamp(at, timezone.utc)

        async def loop() -> None:
            for _ in range(count):
                await self.pool.enqueue_job("noop", _defer_until=when)

        self.run(loop())

    def close(self) -> None:
        self.run(self.pool.aclose())

    def run_worker(self, probe: Probe, concurrency: int, workers: str, purpose: str) -> None:
        worker = Worker(
            functions=[func(function, name=function.__name__) for function in FUNCTIONS],
            redis_settings=self.settings,
            max_jobs=concurrency,
            handle_signals=False,
        )
        self.run(self.serve(probe, worker.async_run, worker.close))


make = ArqAdapter
