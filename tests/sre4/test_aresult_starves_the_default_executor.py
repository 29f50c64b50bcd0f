"""``await job.aresult(timeout=...)`` waits far past its timeout when other waiters fill the pool.

Engine.await_result runs the blocking wait (BLMOVE in steps of up to 5 s)
in the running loop's *default executor*: one thread per waiter, for as long
as it waits.  The default executor of asyncio has ``min(32, cpu + 4)``
threads and is shared with everything else of the application
(``asyncio.to_thread``, ``getaddrinfo``, ``loop.run_in_executor(None, ...)``).

Scenario (a web service, 'start a job, await its result'): as many requests
as the executor has threads await results of jobs still queued behind a
backlog, with a generous timeout.  The next ``await job.aresult(timeout=0.5)``
does not start waiting at all: its call sits in the executor's queue until a
thread is free, so it raises its JobResultTimeoutError (or returns) only
after another waiter is done -- here about 8 s instead of 0.5 s -- and
every ``asyncio.to_thread`` of the service (DNS lookups, file reads) is
stuck the same way.  The docs promise the wait "without blocking an event
loop" and a timeout; the loop is as good as blocked.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from spinach.exc import JobResultTimeoutError


def test_aresult_honours_its_timeout_while_other_waiters_wait(make_engine):
    spin = make_engine()

    @spin.task(name="slow", store_result=True)
    def slow():
        return 1

    # No worker runs yet: the jobs are queued behind a backlog.
    jobs = [spin.schedule(slow) for _ in range(40)]

    async def main() -> float:
        waiters = [asyncio.ensure_future(job.aresult(timeout=8)) for job in jobs[:-1]]
        await asyncio.sleep(0)  # a turn of the loop: they are submitted to the executor
        started = time.monotonic()
        try:
            with pytest.raises(JobResultTimeoutError):
                await asyncio.wait_for(jobs[-1].aresult(timeout=0.5), 3)
        except asyncio.TimeoutError:
            return time.monotonic() - started
        finally:
            for waiter in waiters:
                waiter.cancel()
            # The executor's threads are still blocked in Redis: let them end.
            await asyncio.gather(*waiters, return_exceptions=True)
        return time.monotonic() - started

    took = asyncio.run(main())
    assert took < 3, (
        f"aresult(timeout=0.5) had not returned after {took:.1f} s: the loop's default "
        "executor is full of other waiters blocked in BLMOVE"
    )
