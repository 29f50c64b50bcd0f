"""An async task on the default ThreadWorkers is never cancelled.

``Engine.cancel`` documents: "A running job is asked to stop: an async task
is cancelled at its next ``await``".  Only ``AsyncioWorkers`` implement
``request_cancel``; the default ``ThreadWorkers`` (``start_workers()``
without ``workers_class``, the ``spinach`` CLI's default) run an async task
with ``asyncio.run`` on a worker thread and inherit the no-op
``BaseWorkers.request_cancel``.  The coroutine is never cancelled: a
cancelled async job runs to its end and is recorded SUCCEEDED, while the
caller was told ``RUNNING`` (a request was sent).
"""

from __future__ import annotations

import asyncio
import threading

from spinach import Engine, JobStatus, Tasks
from spinach.brokers.redis import RedisBroker


def test_a_running_async_job_on_thread_workers_is_cancelled(redis_server, namespace):
    started, outcome = threading.Event(), []
    tasks = Tasks()

    @tasks.task(name="waiter", track=True, max_retries=3)
    async def waiter() -> None:
        started.set()
        try:  # without a cancel it ends by itself after 5 s
            await asyncio.wait_for(asyncio.Event().wait(), 5)
            outcome.append("ran to its end")
        except asyncio.TimeoutError:
            outcome.append("ran to its end")
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    spin = Engine(RedisBroker(redis_server.client()), namespace=f"sre3{namespace}")
    spin.attach_tasks(tasks)
    job = spin.schedule(waiter)
    spin.start_workers(number=2, block=False)  # ThreadWorkers, the default
    try:
        assert started.wait(10)
        assert spin.cancel(job.id) is JobStatus.RUNNING
    finally:
        spin.stop_workers()
    record = spin.get_job(job.id)
    assert outcome == ["cancelled"], (
        f"the async job {outcome[0] if outcome else 'never ended'}; record: {record.status.name}"
    )
    assert record.status is JobStatus.CANCELLED
