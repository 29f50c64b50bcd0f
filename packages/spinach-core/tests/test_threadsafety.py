"""Many threads scheduling while workers run: every job runs exactly once."""

from __future__ import annotations

import threading
from collections import Counter

from spinach import AsyncioWorkers, Batch


def _hammer(spin, task, threads=8, per_thread=250):
    barrier = threading.Barrier(threads)

    def produce(t):
        barrier.wait()
        for i in range(per_thread):
            if i % 50 == 0:
                batch = Batch()
                for j in range(5):
                    batch.schedule(task, t, i, j)
                spin.schedule_batch(batch)
            else:
                spin.schedule(task, t, i, -1)

    producers = [threading.Thread(target=produce, args=(t,), daemon=True) for t in range(threads)]
    for p in producers:
        p.start()
    return producers


def test_concurrent_scheduling_with_thread_workers(real_spin, recorder):
    seen = Counter()
    lock = threading.Lock()

    @real_spin.task(name="record")
    def record(t, i, j):
        with lock:
            seen[(t, i, j)] += 1

    real_spin.start_workers(number=8, block=False)
    for p in _hammer(real_spin, record):
        p.join()
    expected = 8 * (250 - 5 + 5 * 5)
    recorder.wait_count("job_finished", expected, timeout=60)
    assert len(seen) == expected
    assert set(seen.values()) == {1}


def test_concurrent_scheduling_with_asyncio_workers(real_spin, recorder):
    seen = Counter()

    @real_spin.task(name="record")
    async def record(t, i, j):
        seen[(t, i, j)] += 1  # one loop thread: no lock needed

    real_spin.start_workers(number=64, workers_class=AsyncioWorkers, block=False)
    for p in _hammer(real_spin, record, threads=4):
        p.join()
    expected = 4 * (250 - 5 + 5 * 5)
    recorder.wait_count("job_finished", expected, timeout=60)
    assert len(seen) == expected
    assert set(seen.values()) == {1}
