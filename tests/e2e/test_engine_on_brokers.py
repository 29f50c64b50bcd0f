"""The engine behaves the same on every broker."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

from spinach import AsyncioWorkers, Batch, ManualClock, RetryException


def test_jobs_batches_and_results(make_spin, recorder_for):
    spin = make_spin()
    rec = recorder_for(spin.namespace)
    seen = []
    lock = threading.Lock()

    @spin.task(name="add")
    def add(a, b, *, scale=1):
        with lock:
            seen.append((a + b) * scale)

    spin.schedule(add, 1, 2)
    spin.schedule("add", 3, 4, scale=10)
    batch = Batch()
    for i in range(100):
        batch.schedule(add, i, i)
    spin.schedule_batch(batch)
    spin.start_workers(number=8, stop_when_queue_empty=True)
    assert sorted(seen) == sorted([3, 70, *[2 * i for i in range(100)]])
    assert rec.count("job_failed") == 0


def test_retries_backoff_and_future_jobs_on_a_manual_clock(make_spin, recorder_for):
    clock = ManualClock()
    spin = make_spin(clock)
    rec = recorder_for(spin.namespace)
    starts = []

    @spin.task(name="flaky", max_retries=2)
    def flaky():
        starts.append(clock.time())
        raise RetryException("later", at=clock.now() + timedelta(seconds=30))

    @spin.task(name="later")
    def later():
        starts.append(("later", clock.time()))

    job = spin.schedule_at(later, clock.now() + timedelta(minutes=5))
    spin.schedule(flaky)
    spin.start_workers(number=2, block=False)
    rec.wait_count("job_schedule_retry", 1)
    for attempt in (1, 2):
        retry = rec.jobs("job_schedule_retry")[-1]
        assert clock.wait_for_sleepers(1, deadline=retry.at_timestamp)
        clock.advance(29.999)
        assert clock.wait_for_sleepers(1)
        assert len([s for s in starts if not isinstance(s, tuple)]) == attempt
        clock.advance(0.001)
        rec.wait_count("job_started", attempt + 1)
        if attempt == 1:
            rec.wait_count("job_schedule_retry", 2)
    rec.wait_count("job_failed", 1)
    assert clock.wait_for_sleepers(1, deadline=job.at_timestamp)
    clock.advance(job.at_timestamp - clock.time())
    rec.wait_count("job_finished", 4)
    assert ("later", job.at_timestamp) in starts


def test_periodic_task_on_a_manual_clock(make_spin, recorder_for):
    clock = ManualClock()
    spin = make_spin(clock)
    rec = recorder_for(spin.namespace)
    spin.task(lambda: None, name="tick", periodicity=timedelta(seconds=10))
    origin = clock.time()
    spin.start_workers(number=1, block=False)
    rec.wait_count("job_finished", 1)
    for n in range(1, 4):
        assert clock.wait_for_sleepers(1, deadline=origin + 10 * n)
        clock.advance(10)
        rec.wait_count("job_finished", n + 1)
    assert [j.at_timestamp - origin for j in rec.jobs("job_started")] == [0, 10, 20, 30]


def test_max_concurrency_on_real_workers(make_spin, recorder_for):
    spin = make_spin()
    rec = recorder_for(spin.namespace)
    current = [0, 0]
    lock = threading.Lock()
    release = threading.Event()

    @spin.task(name="limited", max_retries=1, max_concurrency=3)
    def limited():
        with lock:
            current[0] += 1
            current[1] = max(current)
        release.wait(10)
        with lock:
            current[0] -= 1

    batch = Batch()
    for _ in range(20):
        batch.schedule(limited)
    spin.schedule_batch(batch)
    spin.start_workers(number=10, block=False)
    rec.wait_for(lambda: rec._count_locked("job_started", None) >= 3)
    release.set()
    rec.wait_count("job_finished", 20)
    assert current[1] == 3


def test_asyncio_workers(make_spin, recorder_for):
    spin = make_spin()
    rec = recorder_for(spin.namespace)

    @spin.task(name="io")
    async def io(i):
        await asyncio.sleep(0.01)

    batch = Batch()
    for i in range(300):
        batch.schedule(io, i)
    spin.schedule_batch(batch)
    spin.start_workers(number=128, workers_class=AsyncioWorkers, stop_when_queue_empty=True)
    assert rec.count("job_finished") == 300
    assert rec.count("job_failed") == 0


def test_bad_payloads_and_unknown_tasks_never_stop_a_worker(
    make_spin, recorder_for, caplog, wait_until
):
    spin = make_spin()
    rec = recorder_for(spin.namespace)
    spin.task(lambda: None, name="good")
    spin.start_workers(number=2, block=False)
    spin.broker.inject_raw_payload("spinach", b"garbage")
    spin.broker.inject_raw_payload("spinach", b'{"id":"' + b"0" * 32 + b'","task_name":"x"}')
    spin.broker.inject_raw_payload(
        "spinach",
        '{"id":"' + "1" * 32 + '","task_name":"gone","queue":"spinach","at":0,'
        '"max_retries":0,"retries":0,"args":[],"kwargs":{}}',
    )
    for _ in range(5):
        spin.schedule("good")
    rec.wait_count("job_finished", 5, task_name="good")
    # The job of the unknown task is handed back for a worker that knows it.
    wait_until(lambda: spin.broker.future_jobs_count() == 1)
    assert rec.count("job_failed") == 0
    assert rec.count("job_started", "gone") == 0
    assert len(spin.broker.rejected()) == 2
    assert "unreadable" in caplog.text or "cannot be read" in caplog.text
