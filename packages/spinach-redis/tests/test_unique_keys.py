"""Unique keys in Redis: freed on every way a job ends, taken over when stale.

The contract suite proves what users see; these tests look at the hash of
keys itself ({ns}:unique): it must not keep the key of a job that ended (it
would grow for ever), and a key left behind by a holder that ended without
freeing it (a worker of a version without unique jobs, a record expired)
must not block its key.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import pytest
from redis.exceptions import ConnectionError

from spinach.brokers.redis import RedisBroker
from spinach.brokers.redis import broker as broker_module
from spinach.clock import ManualClock
from spinach.codec import PayloadCodec
from spinach.exc import SpinachError
from spinach.job import Job, JobStatus
from spinach.utils import from_timestamp

pytestmark = pytest.mark.redis

_names = itertools.count()


def unique_job(clock: ManualClock, key: str = "k", max_retries: int = 0, delay: float = 0) -> Job:
    job = Job("task", "q", from_timestamp(clock.time() + delay), max_retries, (), {})
    job.track = 600
    job.unique = hashlib.sha1(key.encode()).hexdigest()
    return job


@pytest.fixture
def make_broker(redis_server: Any) -> Any:
    brokers: list[RedisBroker] = []
    namespace = f"uq{next(_names)}"

    def make(**options: Any) -> RedisBroker:
        broker = RedisBroker(redis_server.client(), clock=clock, **options)
        broker.namespace = namespace
        brokers.append(broker)
        return broker

    clock = ManualClock()
    make.clock = clock  # type: ignore[attr-defined]
    yield make
    for broker in brokers:
        broker.stop()
    brokers[0].flush()


def keys_held(broker: RedisBroker) -> dict[bytes, bytes]:
    return broker.redis.hgetall(broker.keys.unique)


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_job_that_ends_leaves_no_key_behind(make_broker, status):
    broker = make_broker()
    broker.start()
    broker.enqueue_jobs([unique_job(make_broker.clock)])
    assert len(keys_held(broker)) == 1
    [job] = broker.get_jobs_from_queue("q", 1)
    job.status = status
    broker.acknowledge([job])
    assert keys_held(broker) == {}


def test_cancelled_set_aside_and_lost_jobs_leave_no_key_behind(make_broker):
    clock = make_broker.clock
    producer, worker = make_broker(), make_broker(broker_dead_threshold_seconds=10)
    worker.start()
    queued, later = unique_job(clock, "queued"), unique_job(clock, "later", delay=60)
    producer.enqueue_jobs([queued, later])
    producer.cancel_jobs([queued.id_hex, later.id_hex])
    assert keys_held(producer) == {}  # a cancel frees the key at once

    signing = make_broker()
    signing.codec = PayloadCodec(signing_key=b"key")
    signing.start()
    producer.enqueue_jobs([unique_job(clock, "unsigned")])
    assert signing.get_jobs_from_queue("q", 1) == []  # set aside
    assert keys_held(producer) == {}
    signing.stop()

    dead = make_broker(broker_dead_threshold_seconds=10)
    dead.start()
    producer.enqueue_jobs([unique_job(clock, "lost")])
    assert len(dead.get_jobs_from_queue("q", 1)) == 1
    for _ in range(7):
        clock.advance(worker.heartbeat_interval)
        worker.check_dead_workers()
    assert keys_held(producer) == {}


def test_a_key_left_by_an_ended_holder_is_taken_over(make_broker):
    clock = make_broker.clock
    broker = make_broker()
    broker.start()
    digest = hashlib.sha1(b"k").hexdigest()
    finished = unique_job(clock)
    broker.enqueue_jobs([finished])
    [running] = broker.get_jobs_from_queue("q", 1)
    running.status = JobStatus.SUCCEEDED
    broker.acknowledge([running])
    # As a worker of an older version would have left it: the key still
    # names a job whose record says it ended, or a job without a record.
    for holder in (finished.id_hex, "f" * 32):
        broker.redis.hset(broker.keys.unique, digest, holder)
        job = unique_job(clock)
        broker.enqueue_jobs([job])
        assert not job.duplicate
        assert keys_held(broker) == {digest.encode(): job.id_hex.encode()}
        broker.cancel_jobs([job.id_hex])


def test_a_retried_enqueue_whose_reply_was_lost_tells_the_duplicates(make_broker, monkeypatch):
    clock = make_broker.clock
    broker = make_broker()
    broker.start()
    live = unique_job(clock, "held")
    broker.enqueue_jobs([live])
    batch = [unique_job(clock, "held"), unique_job(clock, "free")]
    run = broker._scripts.run
    lost = []

    def lose_first_reply(client, name, keys, args):
        reply = run(client, name, keys, args)  # applied by the real server...
        if name == "enqueue" and not lost:
            lost.append(reply)
            raise ConnectionError("connection reset")  # ... and its reply lost
        return reply

    monkeypatch.setattr(broker._scripts, "run", lose_first_reply)
    broker.enqueue_jobs(batch)
    assert lost, "the first reply was not lost"
    assert (batch[0].duplicate, batch[0].id_hex, batch[0].status) == (
        True,
        live.id_hex,
        JobStatus.QUEUED,
    )
    assert not batch[1].duplicate
    assert broker.queue_length("q") == 2


def test_a_batch_too_large_for_one_call_cannot_hold_unique_jobs(make_broker, monkeypatch):
    monkeypatch.setattr(broker_module, "BATCH_CHUNK_JOBS", 2)
    clock = make_broker.clock
    broker = make_broker()
    plain = [Job("task", "q", from_timestamp(clock.time()), 0) for _ in range(5)]
    with pytest.raises(SpinachError, match="unique tasks is enqueued in one atomic call"):
        broker.enqueue_jobs([*plain, unique_job(clock)])
    assert broker.queue_length("q") == 0 and keys_held(broker) == {}
    broker.enqueue_jobs(plain)  # staged: fine without unique jobs
    assert broker.queue_length("q") == 5


def test_flush_forgets_the_keys(make_broker):
    broker = make_broker()
    broker.enqueue_jobs([unique_job(make_broker.clock)])
    assert keys_held(broker)
    broker.flush()
    assert not broker.redis.exists(broker.keys.unique)
