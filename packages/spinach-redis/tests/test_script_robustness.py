"""Scripts destroy nothing when what they read is not what they expect.

An operator's mistake, a foreign write or a half-applied upgrade can leave a
value a script does not expect: it is repaired or set aside, and no job is
lost on the way.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from spinach import ManualClock
from spinach.brokers.redis import RedisBroker
from spinach.job import Job
from spinach.task import Task
from spinach.utils import from_timestamp

pytestmark = pytest.mark.redis


@pytest.fixture
def broker(redis_server, unique_ns):
    clock = ManualClock()
    b = RedisBroker(redis_server.client(), clock=clock)
    b.namespace = unique_ns
    b.start()
    yield b
    b.stop()
    b.flush()


def _job(broker, task="limited", delay=0.0, retries=3):
    return Job(task, "q", from_timestamp(broker.clock.time() + delay), retries)


def _limited(limit=2):
    return Task(lambda: None, "limited", "q", 3, None, limit)


def test_a_counter_that_is_not_a_number_is_recounted_and_no_job_is_lost(broker):
    broker.set_concurrency_keys([_limited(2)])
    broker.enqueue_jobs([_job(broker) for _ in range(3)])
    assert len(broker.get_jobs_from_queue("q", 1)) == 1
    broker.redis.hset(broker.keys.current_concurrency, "limited", "not a number")
    broker.enqueue_jobs([_job(broker) for _ in range(2)])
    fetched = broker.get_jobs_from_queue("q", 5)
    assert len(fetched) == 1  # one was running already: the limit of 2 holds
    assert int(broker.redis.hget(broker.keys.current_concurrency, "limited")) == 2
    assert broker.queue_length("q") == 3  # parked, not lost
    assert len(broker.running_jobs()) == 2


def test_a_limit_that_is_not_a_number_is_removed_not_fatal(broker):
    broker.set_concurrency_keys([_limited(1)])
    broker.redis.hset(broker.keys.max_concurrency, "limited", "-3.5")
    broker.enqueue_jobs([_job(broker) for _ in range(3)])
    assert len(broker.get_jobs_from_queue("q", 5)) == 3
    assert not broker.redis.hexists(broker.keys.max_concurrency, "limited")
    broker.set_concurrency_keys([_limited(1)])  # the next worker to start sets it again
    assert broker.redis.hget(broker.keys.max_concurrency, "limited") == b"1"


def test_an_unreadable_periodic_definition_is_set_aside_and_future_jobs_still_move(broker):
    tick = Task(lambda: None, "tick", "q", 0, timedelta(seconds=10), None)
    broker.register_periodic_tasks([tick])
    broker.redis.hset(broker.keys.periodic_defs, "tick", "10|a|b|0")  # not what it expects
    broker.enqueue_jobs([_job(broker, "later", delay=5) for _ in range(3)])
    broker.clock.advance(6)
    broker.move_future_jobs()
    assert broker.queue_length("q") == 3
    assert broker.future_jobs_count() == 0
    assert broker.periodic_tasks() == []
    assert broker.rejected() == [b"periodic task tick: 10|a|b|0"]
    broker.register_periodic_tasks([tick])  # declared again, it works again
    broker.move_future_jobs()
    assert broker.queue_length("q") == 4


def test_future_payloads_the_scripts_cannot_read_are_set_aside_one_by_one(broker):
    good = [_job(broker, "later", delay=5) for _ in range(2)]
    broker.enqueue_jobs(good)
    at = broker.clock.time() + 5
    for bad in (b"garbage", good[0].serialize().replace('"queue":"q"', '"queue":"a*b"')):
        broker.redis.zadd(broker.keys.future, {bad: at})
    broker.clock.advance(6)
    broker.move_future_jobs()
    assert broker.queue_length("q") == 2
    assert broker.future_jobs_count() == 0
    assert len(broker.rejected()) == 2
