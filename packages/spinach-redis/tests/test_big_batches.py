"""Batches larger than one bounded call: staged, committed at once, all or nothing."""

from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from spinach import Batch, Engine, ManualClock
from spinach.brokers.redis import RedisBroker, broker
from spinach.exc import BrokerError

pytestmark = pytest.mark.redis


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 100 jobs (one call up to 200), so that tests stage many with few jobs."""
    monkeypatch.setattr(broker, "BATCH_CHUNK_JOBS", 100)


def batch_of(count, first=0):
    batch = Batch()
    for n in range(first, first + count):
        batch.schedule("noop", n)
    return batch


def queued_numbers(spin):
    jobs = []
    while fetched := spin.broker.get_jobs_from_queue("spinach", 500):
        jobs += fetched
    return [job.task_args[0] for job in jobs]


def test_a_batch_larger_than_a_call_is_enqueued_whole_and_in_order(
    make_engine, small_chunks, redis_server
):
    from spinach_test_support.redis_tools import CommandMonitor

    spin = make_engine()
    spin.task(lambda n: None, name="noop")
    with CommandMonitor(redis_server) as monitor:
        jobs = spin.schedule_batch(batch_of(1050))
    # 11 chunks staged, then 11 calls each moving 100 of them: never more per call.
    assert monitor.network["evalsha"] == 22
    assert {job.status.name for job in jobs} == {"QUEUED"}
    assert queued_numbers(spin) == list(range(1050))
    assert spin.broker.redis.zcard(spin.broker.keys.batches) == 0


def test_dated_jobs_of_a_big_batch_wait_for_their_date(make_engine, small_chunks):
    clock = ManualClock()
    spin = make_engine(clock=clock)
    spin.task(lambda n: None, name="noop")
    batch = Batch()
    for n in range(150):
        batch.schedule_at("noop", clock.now().replace(microsecond=0) + _seconds(60 + n), n)
    jobs = spin.schedule_batch(batch)
    assert {job.status.name for job in jobs} == {"WAITING"}
    assert spin.broker.future_jobs_count() == 150


def _seconds(n):
    from datetime import timedelta

    return timedelta(seconds=n)


class FailingStage(RedisBroker):
    """A producer that fails (or dies) while staging its third chunk."""

    def _run(self, operation, script, keys, args, forever=False):
        if script == "stage_batch" and args[2] == 2:
            raise BrokerError("the producer failed here")
        return super()._run(operation, script, keys, args, forever)


def test_a_batch_whose_staging_fails_enqueues_nothing(redis_server, unique_ns, small_chunks):
    spin = Engine(FailingStage(redis_server.client()), namespace=unique_ns)
    spin.task(lambda n: None, name="noop")
    with pytest.raises(BrokerError, match="failed here"):
        spin.schedule_batch(batch_of(500))
    client = spin.broker.redis
    assert spin.broker.queue_length("spinach") == 0
    assert client.keys(f"{{{unique_ns}}}:batch:*") == []  # the staged chunks are gone
    spin.broker.flush()


class DiesAfterCommit(RedisBroker):
    """A producer that dies right after its batch is committed, having moved a part."""

    def _run(self, operation, script, keys, args, forever=False):
        reply = super()._run(operation, script, keys, args, forever)
        if script == "commit_batch":
            raise SystemExit("the producer died")
        return reply


def test_a_committed_batch_is_finished_by_the_workers_if_its_producer_dies(
    redis_server, unique_ns, small_chunks, make_engine
):
    clock = ManualClock()
    producer = Engine(DiesAfterCommit(redis_server.client(), clock=clock), namespace=unique_ns)
    producer.task(lambda n: None, name="noop")
    with pytest.raises(SystemExit):
        producer.schedule_batch(batch_of(1000))
    worker = make_engine(unique_ns, clock=clock)
    worker.task(lambda n: None, name="noop")
    assert worker.broker.queue_length("spinach") == 100  # the first move
    assert worker.broker.move_future_jobs() is None  # committed a moment ago: its producer's
    clock.advance(31)  # a producer away for so long is gone: the workers finish the move
    while worker.broker.move_future_jobs() is not None:
        pass
    assert sorted(queued_numbers(worker)) == list(range(1000))


def test_a_staged_batch_whose_replies_are_lost_is_enqueued_once(
    redis_server, unique_ns, small_chunks
):
    from spinach_test_support.redis_tools import ReplyDroppingProxy

    proxy = ReplyDroppingProxy(redis_server.port)
    client = redis.Redis(port=proxy.port, retry=Retry(NoBackoff(), 0))
    spin = Engine(RedisBroker(client, connection_attempts=4), namespace=unique_ns)
    spin.task(lambda n: None, name="noop")
    spin.schedule("noop", -1)  # connected, scripts loaded
    calls = []
    original = spin.broker._scripts.run

    def run(client, name, keys, args):
        calls.append(name)
        if len(calls) in (2, 5):  # a stage call and a commit call lose their reply
            proxy.drop_next_reply()
        return original(client, name, keys, args)

    spin.broker._scripts.run = run
    try:
        spin.schedule_batch(batch_of(300))
        assert proxy.dropped.is_set()
        assert sorted(queued_numbers(spin)) == [-1, *range(300)]
    finally:
        proxy.close()
        spin.broker.flush()
