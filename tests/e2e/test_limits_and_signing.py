"""Payload limits, checked when a job is scheduled and when it is read; signed payloads."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest

from spinach import Batch, Engine, ManualClock, MemoryBroker
from spinach.brokers.memory import MemoryStore
from spinach.exc import PayloadTooLargeError, SerializationError
from spinach.job import Job
from spinach.serialization import PayloadLimits


@pytest.fixture
def pair(broker_kind, request):
    """Make (producer, worker) engines of one namespace on one storage."""
    made: list[Engine] = []
    store = MemoryStore()
    namespace = f"lim{uuid.uuid4().hex[:8]}"

    def make(**options: Any) -> Engine:
        clock = options.pop("clock", None)
        if broker_kind == "memory":
            broker: Any = MemoryBroker(store=store, clock=clock)
        else:
            from spinach.brokers.redis import RedisBroker

            server = request.getfixturevalue("redis_server")
            broker = RedisBroker(server.client(), clock=clock)
        spin = Engine(broker, namespace=namespace, **options)
        made.append(spin)
        return spin

    yield make
    for spin in made:
        spin.stop_workers()
    made[0].broker.flush()


def test_a_payload_over_the_size_limit_is_refused_when_scheduled(pair):
    spin = pair(payload_limits=PayloadLimits(max_bytes=1000))
    spin.task(lambda text: None, name="store")
    spin.schedule("store", "x" * 500)
    with pytest.raises(PayloadTooLargeError, match="more than the limit of 1000"):
        spin.schedule("store", "x" * 2000)
    batch = Batch()
    batch.schedule("store", "small")
    batch.schedule("store", "x" * 2000)
    with pytest.raises(PayloadTooLargeError):
        spin.schedule_batch(batch)
    assert spin.broker.queue_length("spinach") == 1  # nothing of the batch


def test_arguments_nesting_over_the_limit_are_refused_when_scheduled(pair):
    spin = pair(payload_limits=PayloadLimits(max_depth=10))
    spin.task(lambda value: None, name="nested")
    spin.schedule("nested", [[[[[[[[1]]]]]]]])  # 8 levels of arguments + 2 of the payload
    with pytest.raises(SerializationError, match="nest too deeply"):
        spin.schedule("nested", [[[[[[[[[1]]]]]]]]])


def test_a_worker_sets_aside_payloads_over_its_limits(pair, recorder_for):
    producer = pair()
    worker = pair(payload_limits=PayloadLimits(max_bytes=1000))
    rec = recorder_for(worker.namespace)
    for spin in (producer, worker):
        spin.task(lambda text: None, name="store")
    producer.schedule("store", "x" * 2000)  # the producer's limits are larger
    producer.schedule("store", "small")
    worker.start_workers(number=1, block=False)
    rec.wait_count("job_finished", 1)
    assert [j.task_args for j in rec.jobs("job_finished")] == [("small",)]
    [rejected] = worker.broker.rejected()
    assert len(rejected) > 2000


KEY = os.urandom(32)


def clock_now():
    return ManualClock().now()


def test_signed_payloads_run_and_unsigned_or_forged_ones_are_set_aside(
    pair, recorder_for, wait_until
):
    producer = pair(signing_key=KEY)
    worker = pair(signing_key=KEY)
    rec = recorder_for(worker.namespace)
    for spin in (producer, worker):
        spin.task(lambda n: None, name="work", max_retries=2)
    signed = producer.schedule("work", 1)

    # Someone who can write to Redis, but lacks the key:
    intruder = pair()  # no key: writes unsigned payloads
    intruder.task(lambda n: None, name="work", max_retries=2)
    intruder.schedule("work", 666)
    other_key = pair(signing_key=os.urandom(32))  # the wrong key
    other_key.task(lambda n: None, name="work", max_retries=2)
    other_key.schedule("work", 667)
    producer.schedule("work", 2)
    signed_payload = producer.broker.codec.encode(Job("work", "spinach", clock_now(), 2, (668,)))
    forged = signed_payload.replace('"args":[668]', '"args":[669]')  # signature kept
    producer.broker.inject_raw_payload("spinach", forged)

    worker.start_workers(number=2, block=False)
    rec.wait_count("job_finished", 2)
    wait_until(lambda: len(worker.broker.rejected()) == 3)
    assert sorted(j.task_args[0] for j in rec.jobs("job_started")) == [1, 2]
    assert signed.id in {j.id for j in rec.jobs("job_finished")}


def test_retries_of_a_signing_worker_are_signed_again(pair, recorder_for):
    clock = ManualClock()
    producer = pair(signing_key=KEY, clock=clock)
    worker = pair(signing_key=KEY, clock=clock)
    rec = recorder_for(worker.namespace)
    attempts = []
    lock = threading.Lock()

    def flaky():
        with lock:
            attempts.append(1)
            if len(attempts) == 1:
                raise RuntimeError("once")

    producer.task(lambda: None, name="flaky", max_retries=2)
    worker.task(flaky, name="flaky", max_retries=2)
    producer.schedule("flaky")
    worker.start_workers(number=1, block=False)
    rec.wait_count("job_schedule_retry", 1)
    assert clock.wait_for_sleepers(1)
    clock.advance(10)  # the retry is due
    rec.wait_count("job_finished", 2)
    assert worker.broker.rejected() == []
    assert len(attempts) == 2


def test_runs_of_periodic_tasks_are_trusted_unsigned_only_as_they_are(
    pair, recorder_for, wait_until
):
    clock = ManualClock()
    worker = pair(signing_key=KEY, clock=clock)
    rec = recorder_for(worker.namespace)
    worker.task(lambda: None, name="tick", periodicity=timedelta(seconds=10))
    worker.start_workers(number=1, block=False)
    rec.wait_count("job_finished", 1, task_name="tick")  # built by the broker, unsigned
    # A look-alike with arguments, or on another queue, is not a run of the task.
    [run] = rec.jobs("job_finished", "tick")
    # With arguments, or as a retry, it is not a run the broker made.
    for args, retries in (((1,), 0), ((), 1)):
        fake = Job("tick", "spinach", run.at, 1, args, id=run.id, retries=retries)
        worker.broker.inject_raw_payload("spinach", fake.serialize())
    assert clock.wait_for_sleepers(1)
    clock.advance(10)
    rec.wait_count("job_finished", 2, task_name="tick")
    wait_until(lambda: len(worker.broker.rejected()) == 2)
    assert all(not j.task_args and not j.retries for j in rec.jobs("job_started", "tick"))
