"""Round trips: what the client sends over the network, counted with MONITOR."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from spinach import Batch, ManualClock
from spinach.job import JobStatus

pytestmark = pytest.mark.redis


@pytest.fixture
def monitor(redis_server):
    from spinach_test_support.redis_tools import CommandMonitor

    return lambda: CommandMonitor(redis_server)


def _engine(make_engine, **kwargs):
    spin = make_engine(**kwargs)
    spin.task(lambda i=0: None, name="noop")
    spin.schedule("noop")  # connection open, scripts loaded
    return spin


def test_schedule_is_one_round_trip(make_engine, monitor):
    spin = _engine(make_engine)
    with monitor() as seen:
        spin.schedule("noop", 1)
    assert dict(seen.network) == {"evalsha": 1}


@pytest.mark.parametrize("size", [1, 100, 9_999])
def test_schedule_batch_is_one_round_trip_up_to_a_chunk(make_engine, monitor, size):
    spin = _engine(make_engine)
    batch = Batch()
    for i in range(size):
        batch.schedule("noop", i)
    later = spin.broker.clock.now() + timedelta(hours=1)
    batch.schedule_at("noop", later, -1)
    with monitor() as seen:
        spin.schedule_batch(batch)
    assert dict(seen.network) == {"evalsha": 1}
    assert spin.broker.queue_length("spinach") == size + 1
    assert spin.broker.future_jobs_count() == 1


def test_a_larger_batch_takes_two_bounded_calls_per_chunk(make_engine, monitor):
    from spinach.brokers.redis.broker import BATCH_CHUNK_JOBS

    spin = _engine(make_engine)
    batches = [Batch(), Batch()]
    for batch in batches:
        for i in range(2 * BATCH_CHUNK_JOBS + 1):  # one more than one call takes
            batch.schedule("noop", i)
    spin.schedule_batch(batches[0])  # the staging scripts are loaded
    with monitor() as seen:
        spin.schedule_batch(batches[1])
    assert dict(seen.network) == {"evalsha": 6}  # 3 chunks staged, 3 moves
    assert spin.broker.queue_length("spinach") == 1 + 2 * (2 * BATCH_CHUNK_JOBS + 1)


def test_fetch_takes_up_to_the_free_slots_in_one_call(make_engine, monitor):
    spin = _engine(make_engine)
    broker = spin.broker
    broker.get_jobs_from_queue("spinach", 1)
    batch = Batch()
    for i in range(20):
        batch.schedule("noop", i)
    spin.schedule_batch(batch)
    with monitor() as seen:
        jobs = broker.get_jobs_from_queue("spinach", 8)
    assert len(jobs) == 8
    assert dict(seen.network) == {"evalsha": 1}


def test_acknowledgements_are_batched(make_engine, monitor):
    spin = _engine(make_engine)
    broker = spin.broker
    batch = Batch()
    for i in range(50):
        batch.schedule("noop", i)
    spin.schedule_batch(batch)
    jobs = broker.get_jobs_from_queue("spinach", 100)
    for job in jobs:
        job.status = JobStatus.SUCCEEDED
    broker.acknowledge(jobs[:1])  # the first call of a script loads it (EVAL)
    jobs = jobs[1:]
    with monitor() as seen:
        broker.acknowledge(jobs)
    assert dict(seen.network) == {"evalsha": 1}
    assert broker.running_jobs() == []


def test_idle_worker_does_not_poll_and_wakes_on_notification(make_engine, monitor, recorder_for):
    clock = ManualClock()  # no heartbeat comes due: any command would be polling
    spin = make_engine(clock=clock)
    spin.task(lambda: None, name="noop")
    recorder = recorder_for(spin.namespace)
    spin.start_workers(number=2, block=False)
    assert clock.wait_for_sleepers(1)
    with monitor() as seen:
        threading.Event().wait(1.5)  # an observation window, not a synchronisation
    assert seen.total_network() == 0, dict(seen.network)
    spin.schedule("noop")
    recorder.wait_count("job_finished", 1)


def test_worker_wakes_when_a_future_job_is_due(make_engine, recorder_for):
    spin = make_engine()
    starts = []
    spin.task(lambda: starts.append(spin.broker.clock.time()), name="later")
    recorder = recorder_for(spin.namespace)
    spin.start_workers(number=1, block=False)
    job = spin.schedule_at("later", spin.broker.clock.now() + timedelta(milliseconds=400))
    recorder.wait_count("job_finished", 1)
    lateness = starts[0] - job.at_timestamp
    # Never early; woken by its own timer rather than a periodic check (5 s).
    assert 0 <= lateness < 0.5, lateness
