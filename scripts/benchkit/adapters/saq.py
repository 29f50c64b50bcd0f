"""SAQ: ``Queue.enqueue`` and a ``saq.Worker`` in this process.

SAQ has no batch enqueue (``Queue.batch()`` only groups jobs so that they
are aborted together); ``scheduled=`` takes whole epoch seconds, which is
why every system's future jobs are due on a whole second.  The worker keeps
SAQ's defaults with ``concurrency`` as given, on a redis.asyncio client
allowed enough connections for it.
"""

from __future__ import annotations

import redis.asyncio
from saq import Worker
from saq.queue.redis import RedisQueue

from benchkit.adapters import job_kind
from benchkit.adapters._asyncio import FUNCTIONS, AsyncAdapter
from benchkit.common import Probe

MAX_CONNECTIONS = 1024


class SaqAdapter(AsyncAdapter):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        # redis-py 8 caps an asyncio pool at 100 connections by default, fewer
        # than SAQ needs with 256 concurrent jobs ("Too many connections").
        client = redis.asyncio.from_url(url, max_connections=MAX_CONNECTIONS)
        self.queue = RedisQueue(client, name="bench")
        self.run(self.queue.connect())

    def enqueue_serial(self, count: int, kind: str = "noop") -> None:
        name = job_kind(kind)

        async def loop() -> None:
            for _ in range(count):
                await self.queue.enqueue(name)

        self.run(loop())

    def enqueue_future(self, count: int, at: float) -> None:
        when = int(at)

        async def loop() -> None:
            for _ in range(count):
                await self.queue.enqueue("noop", scheduled=when)

        self.run(loop())

    def close(self) -> None:
        self.run(self.queue.disconnect())

    def run_worker(self, probe: Probe, concurrency: int, workers: str, purpose: str) -> None:
        worker = Worker(self.queue, functions=FUNCTIONS, concurrency=concurrency)
        self.run(self.serve(probe, worker.start, worker.stop))


make = SaqAdapter
