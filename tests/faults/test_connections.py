"""Dropped connections and a restarted Redis: nothing accepted is lost."""

from __future__ import annotations

import threading

import pytest

from spinach import Batch

pytestmark = pytest.mark.redis


def _schedule(spin, task, numbers, batch_size=250):
    for start in range(0, len(numbers), batch_size):
        batch = Batch()
        for n in numbers[start : start + batch_size]:
            batch.schedule(task, n)
        spin.schedule_batch(batch)


def _ran(records, task):
    return {int(r.split()[2]) for r in records if r.startswith(f"run {task} ")}


def test_client_kill_of_every_connection_loses_nothing(workers):
    admin = workers.broker_server.client()
    spin = workers.engine()
    worker = workers.start_worker(threads=4)
    async_worker = workers.start_worker(threads=50, asyncio=True)
    stop = threading.Event()
    kills = []

    def killer():
        # Pacing the fault injection: a kill every 50 ms of real time.
        while not stop.wait(0.05):
            kills.append(admin.client_kill_filter(_type="normal", skipme=True))
            admin.client_kill_filter(_type="pubsub", skipme=True)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        numbers = list(range(3000))
        _schedule(spin, "record", numbers[:1500])  # the scheduler is cut too: it retries
        _schedule(spin, "arecord", numbers[1500:])
        workers.wait_event(lambda e: e.startswith("run record "), timeout=30)
        deadline_ok = _wait_until_all(workers, numbers)
    finally:
        stop.set()
        thread.join()
    assert sum(kills) > 0
    assert deadline_ok, f"missing: {sorted(set(numbers) - _all_ran(workers))[:20]}"
    assert worker.poll() is None and async_worker.poll() is None  # both kept going
    assert not [r for r in workers.records() if r.startswith("failed:")]
    # They still work once the connections are left alone.
    spin.schedule("record", 10_000)
    workers.wait_event(lambda e: e.startswith("run record 10000 "))


def _all_ran(workers):
    records = workers.records()
    return _ran(records, "record") | _ran(records, "arecord")


def _wait_until_all(workers, numbers, timeout=90.0):
    wanted = set(numbers)
    try:
        while not wanted <= _all_ran(workers):
            workers.wait_event(lambda e: e.startswith("run "), timeout=timeout)
    except AssertionError:
        return False
    return True


def test_redis_crash_with_aof_loses_no_acknowledged_job(workers):
    server = workers.broker_server
    spin = workers.engine()
    numbers = list(range(2000))
    _schedule(spin, "record", numbers[:1000])
    worker = workers.start_worker(threads=4)
    workers.wait_event(lambda e: e.startswith("run record "))
    _schedule(spin, "record", numbers[1000:])  # every schedule_batch returned: acknowledged
    server.restart(kill=True)  # SIGKILL, like a power loss; AOF with appendfsync always
    assert _wait_until_all(workers, numbers), (
        f"missing: {sorted(set(numbers) - _all_ran(workers))[:20]}"
    )
    assert worker.poll() is None
    spin.schedule("record", 5000)  # the client reconnects too
    workers.wait_event(lambda e: e.startswith("run record 5000 "))


def test_non_retryable_jobs_never_run_twice_through_connection_cuts(workers):
    admin = workers.broker_server.client()
    spin = workers.engine()
    numbers = list(range(1000))
    _schedule(spin, "record_once", numbers)
    workers.start_worker(threads=4)
    stop = threading.Event()

    def killer():
        while not stop.wait(0.05):
            admin.client_kill_filter(_type="normal", skipme=True)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        seen = 0
        while seen < len(numbers) and spin.broker.queue_length("spinach"):
            workers.wait_event(lambda e: e.startswith("run record_once "), timeout=30)
            seen += 1
    finally:
        stop.set()
        thread.join()
    records = workers.records()
    runs = [int(r.split()[2]) for r in records if r.startswith("run record_once ")]
    assert len(runs) == len(set(runs)), "a non-retryable job ran twice"
