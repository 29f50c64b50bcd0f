"""SRE review: suspected interleavings that held up (these tests pass)."""

from __future__ import annotations

import itertools

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from spinach import Engine, ManualClock
from spinach.brokers.redis import RedisBroker
from spinach.job import JobStatus

pytestmark = pytest.mark.redis

_names = itertools.count()


def test_lost_exchange_reply_that_refetched_the_acked_job_leaves_one_copy(redis_server):
    """An exchange acknowledges a retry due now (pushed at the end of the
    queue) and, the queue being otherwise empty, fetches that same job back;
    the reply is lost and the call retried.  The retry's acknowledgement finds
    the job recorded as running again and settles it once more: still one
    copy, fetched by the retry, and the concurrency counter balanced."""
    from spinach_test_support.redis_tools import ReplyDroppingProxy

    proxy = ReplyDroppingProxy(redis_server.port)
    clock = ManualClock()
    client = redis.Redis(port=proxy.port, retry=Retry(NoBackoff(), 0))
    spin = Engine(RedisBroker(client, clock=clock), namespace=f"sreok{next(_names)}")
    spin.task(lambda: None, name="again", max_retries=3, max_concurrency=1)
    broker = spin.broker
    broker.start()
    broker.set_concurrency_keys(spin.tasks.values())
    try:
        spin.schedule("again")
        [job] = broker.get_jobs_from_queue("spinach", 1)
        job.status, job.retries = JobStatus.QUEUED, 1  # a retry due now
        proxy.drop_next_reply()
        [again] = broker.acknowledge_and_fetch([job], "spinach", 1)
        assert proxy.dropped.is_set()
        assert again == job and again.retries == 1
        assert [j.id for j in broker.running_jobs()] == [job.id]
        assert broker.queue_length("spinach") == 0
        again.status = JobStatus.SUCCEEDED
        broker.acknowledge([again])
        assert broker.running_jobs() == [] and broker.queue_length("spinach") == 0
        assert (
            redis_server.client().hget(f"{{{spin.namespace}}}:current_concurrency", "again") == b"0"
        )
    finally:
        broker.stop()
        broker.flush()
        proxy.close()
