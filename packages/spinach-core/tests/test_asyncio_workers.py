"""AsyncioWorkers and producers in an event loop: the behaviours of threads, without blocking."""

from __future__ import annotations

import asyncio
import threading

import pytest

from spinach import AsyncioWorkers, Batch, Engine, MemoryBroker
from spinach.exc import InvalidJobSignatureError, JobInterruptedError


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_stop_workers_from_a_task_on_asyncio_workers(real_spin, recorder, kind):
    if kind == "async":

        @real_spin.task(name="stopper")
        async def stopper():
            real_spin.stop_workers()

    else:

        @real_spin.task(name="stopper")
        def stopper():
            real_spin.stop_workers()

    real_spin.schedule("stopper")
    done = threading.Event()

    def run():
        real_spin.start_workers(number=2, block=True, workers_class=AsyncioWorkers)
        done.set()

    thread = threading.Thread(target=run, name="test-blocking-start", daemon=True)
    thread.start()
    assert done.wait(20), "start_workers() never returned: the stop deadlocked"
    assert recorder.count("job_finished") == 1
    assert recorder.count("job_failed") == 0
    assert real_spin.broker.running_jobs() == []


def test_sync_tasks_on_asyncio_workers_get_a_thread_per_worker(real_spin, recorder):
    number = 9  # more than the default executor's min(32, cpus + 4) on small machines
    barrier = threading.Barrier(number, timeout=20)

    @real_spin.task(name="blocking")
    def blocking():
        barrier.wait()  # passes only if all of them run at once

    batch = Batch()
    for _ in range(number):
        batch.schedule(blocking)
    real_spin.schedule_batch(batch)
    real_spin.start_workers(number=number, block=False, workers_class=AsyncioWorkers)
    recorder.wait_count("job_finished", number, timeout=30)
    assert recorder.count("job_failed") == 0, recorder.errors("job_failed")


@pytest.mark.parametrize("retries", [0, 2])
def test_a_cancelled_job_is_interrupted_not_failed_by_its_code(real_spin, recorder, retries):
    runs = []

    @real_spin.task(name="cancelled", max_retries=retries)
    async def cancelled():
        runs.append(1)
        if len(runs) == 1:
            raise asyncio.CancelledError()

    real_spin.schedule("cancelled")
    real_spin.start_workers(number=1, block=False, workers_class=AsyncioWorkers)
    if retries:  # queued again at once, its attempt counted, no backoff
        recorder.wait_count("job_finished", 2)
        [retried] = recorder.jobs("job_schedule_retry")
        assert retried.retries == 1
        assert isinstance(recorder.errors("job_schedule_retry")[0], asyncio.CancelledError)
        assert recorder.count("job_failed") == 0
        assert runs == [1, 1]
    else:
        recorder.wait_count("job_failed", 1)
        [error] = recorder.errors("job_failed")
        assert isinstance(error, JobInterruptedError)
        assert isinstance(error.__cause__, asyncio.CancelledError)
        assert runs == [1]
    # The worker coroutine survived: it runs the next job.
    real_spin.task(lambda: None, name="after")
    real_spin.schedule("after")
    recorder.wait_count("job_finished", 1, task_name="after")


class SlowBroker(MemoryBroker):
    """A MemoryBroker whose enqueue waits until it is released."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def enqueue_jobs(self, jobs):
        assert self.release.wait(10)
        super().enqueue_jobs(jobs)


def test_aschedule_does_not_block_the_event_loop(namespace):
    broker = SlowBroker()
    spin = Engine(broker, namespace=namespace)
    spin.task(lambda x: None, name="noop")

    async def main():
        scheduling = asyncio.ensure_future(spin.aschedule("noop", 1))
        # The loop goes on while the broker call waits in another thread.
        await asyncio.sleep(0)
        assert not scheduling.done()
        broker.release.set()
        job = await scheduling
        batch = Batch()
        batch.schedule("noop", 2)
        jobs = await spin.aschedule_batch(batch)
        later = await spin.aschedule_at("noop", job.at, 3)
        return [job, *jobs, later]

    jobs = asyncio.run(main())
    assert [j.task_args for j in jobs] == [(1,), (2,), (3,)]
    assert broker.queue_length("spinach") == 3


def test_aschedule_validates_in_the_caller(namespace):
    spin = Engine(MemoryBroker(), namespace=namespace)
    spin.task(lambda x: None, name="noop")
    with pytest.raises(InvalidJobSignatureError):
        asyncio.run(spin.aschedule("noop"))
