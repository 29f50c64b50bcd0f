"""What the asyncio libraries (arq, SAQ) share: one event loop for the driver's calls.

Their client API is async, so the driver keeps one event loop and runs
each timed loop of enqueues as one coroutine.  Their workers run only
coroutines: the bodies of the realistic workloads are the async ones
(an ``INCR`` on a pooled connection of the job's own, ``asyncio.sleep``).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, TypeVar

from benchkit.adapters import Adapter
from benchkit.common import Probe, async_roundtrip_body, async_wait_body, hit

T = TypeVar("T")


async def noop(ctx: Any) -> None:
    hit()


async def sleep(ctx: Any) -> None:
    await asyncio.sleep(0.01)
    hit()


async def roundtrip(ctx: Any) -> None:
    await async_roundtrip_body()


async def wait(ctx: Any) -> None:
    await async_wait_body()


#: Every kind of job, by name (the function's name is its job name in SAQ).
FUNCTIONS = [noop, sleep, roundtrip, wait]


class AsyncAdapter(Adapter):
    """An adapter whose library is driven from one event loop of its own."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)  # libraries may look it up outside coroutines

    def run(self, coroutine: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coroutine)

    async def serve(
        self, probe: Probe, start: Callable[[], Awaitable[Any]], stop: Callable[[], Awaitable[Any]]
    ) -> None:
        """Run ``start()`` as a task until the probe is done, then ``stop()``."""
        probe.ready()
        task = asyncio.ensure_future(start())
        done = asyncio.ensure_future(
            asyncio.get_running_loop().run_in_executor(None, probe.done.wait)
        )
        await asyncio.wait([task, done], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # the worker ended on its own: raise its error
        try:
            await stop()
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        except asyncio.CancelledError:
            pass  # arq's close() cancels its worker's tasks, this one's await included
