"""Lost replies and unreachable servers: retried calls never apply twice."""

from __future__ import annotations

import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from spinach import Batch, Engine
from spinach.brokers.redis import RedisBroker
from spinach.exc import BrokerConnectionError, SpinachError
from spinach.job import JobStatus

pytestmark = pytest.mark.redis


@pytest.fixture
def proxied(redis_server, unique_ns):
    """An engine whose connection goes through a proxy that can lose replies."""
    from spinach_test_support.redis_tools import ReplyDroppingProxy

    proxy = ReplyDroppingProxy(redis_server.port)
    client = redis.Redis(port=proxy.port, retry=Retry(NoBackoff(), 0))
    spin = Engine(RedisBroker(client, connection_attempts=4), namespace=unique_ns)
    spin.task(lambda i=0: None, name="noop")
    spin.task(lambda i=0: None, name="again", max_retries=3)
    spin.schedule("noop", 0)  # connected, scripts loaded
    warm = spin.broker.get_jobs_from_queue("spinach", 10)
    warm[0].status = JobStatus.SUCCEEDED
    spin.broker.acknowledge(warm)
    yield spin, proxy
    proxy.close()
    spin.broker.flush()


def test_schedule_whose_reply_is_lost_is_not_applied_twice(proxied):
    spin, proxy = proxied
    proxy.drop_next_reply()
    job = spin.schedule("noop", 1)
    assert proxy.dropped.is_set()
    assert job.status is JobStatus.QUEUED
    [fetched] = spin.broker.get_jobs_from_queue("spinach", 10)
    assert fetched == job


def test_batch_whose_reply_is_lost_is_not_applied_twice(proxied):
    spin, proxy = proxied
    batch = Batch()
    for i in range(500):
        batch.schedule("noop", i)
    proxy.drop_next_reply()
    spin.schedule_batch(batch)
    assert proxy.dropped.is_set()
    assert spin.broker.queue_length("spinach") == 500


def test_ack_whose_reply_is_lost_is_not_applied_twice(proxied):
    spin, proxy = proxied
    spin.schedule("again", 1)
    [job] = spin.broker.get_jobs_from_queue("spinach", 1)
    job.status, job.retries = JobStatus.QUEUED, 1
    proxy.drop_next_reply()
    spin.broker.acknowledge([job])
    assert proxy.dropped.is_set()
    assert spin.broker.queue_length("spinach") == 1
    assert spin.broker.running_jobs() == []


def test_jobs_of_a_fetch_whose_reply_is_lost_go_back_to_their_queue(proxied):
    spin, proxy = proxied
    jobs = [spin.schedule("noop", i) for i in range(3)]
    proxy.drop_next_reply()
    # The first attempt took two jobs and lost the reply; the retry took the third.
    assert spin.broker.get_jobs_from_queue("spinach", 2) == [jobs[2]]
    assert len(spin.broker.running_jobs()) == 3
    # At its next heartbeat the broker notices the two it never received.
    assert spin.broker.check_dead_workers() == []
    assert sorted(spin.broker.get_jobs_from_queue("spinach", 5), key=lambda j: j.task_args) == [
        jobs[0],
        jobs[1],
    ]


def test_unreachable_redis_fails_clearly_after_bounded_retries(free_tcp_port):
    client = redis.Redis(port=free_tcp_port, retry=Retry(NoBackoff(), 0), socket_connect_timeout=1)
    spin = Engine(RedisBroker(client, connection_attempts=3), namespace="down")
    spin.task(lambda: None, name="noop")
    started = time.monotonic()
    with pytest.raises(
        BrokerConnectionError, match="could not enqueue jobs on Redis after 3 attempts"
    ):
        spin.schedule("noop")
    assert time.monotonic() - started < 10
    assert issubclass(BrokerConnectionError, SpinachError)


@pytest.fixture
def free_tcp_port(free_port):
    return free_port()  # reserved: nothing listens there during the test
