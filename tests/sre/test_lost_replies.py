"""SRE review: replies lost after a script applied.

(Found by the review, fixed since: the test guards the fix.)

A real redis-server; the worker under test talks to it through a TCP proxy
that swallows one reply and cuts the connection (``ReplyDroppingProxy`` of
tests/support), the way a network cut or a failover does after Redis has
applied a script.  Time is a ManualClock, which the scripts use too.
"""

from __future__ import annotations

import itertools

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from spinach import Engine, ManualClock, Tasks
from spinach.brokers.redis import RedisBroker
from spinach.job import JobStatus

pytestmark = pytest.mark.redis

THRESHOLD = 10.0
_names = itertools.count()


def _tasks() -> Tasks:
    tasks = Tasks()
    tasks.add(lambda token: None, name="once", max_retries=0)
    tasks.add(lambda token: None, name="again", max_retries=3)
    return tasks


@pytest.fixture
def proxy(redis_server):
    from spinach_test_support.redis_tools import ReplyDroppingProxy

    p = ReplyDroppingProxy(redis_server.port)
    yield p
    p.close()


def _engine(client, clock, namespace):
    spin = Engine(
        RedisBroker(client, clock=clock, broker_dead_threshold_seconds=THRESHOLD),
        namespace=namespace,
    )
    spin.attach_tasks(_tasks())
    return spin


def test_a_lost_adoption_reply_never_reruns_a_non_retryable_job(redis_server, proxy):
    """A worker dies while running a max_retries=0 job.  The live worker's
    heartbeat adopts it, but the reply of that heartbeat is lost and the call
    retried.  The contract: the job is reported FAILED (JobLostError) and never
    runs again.  What happens: the retried heartbeat sees the adopted entry in
    its own running hash, takes it for the orphan of a lost *fetch* reply and
    puts it back in the queue, unchanged, to run a second time.
    """
    clock = ManualClock()
    namespace = f"sre{next(_names)}"
    producer = _engine(redis_server.client(), clock, namespace)
    dead = _engine(redis_server.client(), clock, namespace).broker
    live_client = redis.Redis(port=proxy.port, retry=Retry(NoBackoff(), 0))
    live = _engine(live_client, clock, namespace).broker

    dead.start()
    live.start()
    job = producer.schedule("once", "o1")
    [fetched] = dead.get_jobs_from_queue("spinach", 1)  # now running on `dead`
    assert fetched == job
    try:
        # `live` heartbeats every interval for a threshold: it is current;
        # `dead` never heartbeats again.
        for _ in range(int(THRESHOLD / live.heartbeat_interval)):
            clock.advance(live.heartbeat_interval)
            assert live.check_dead_workers() == []
        clock.advance(live.heartbeat_interval)
        proxy.drop_next_reply()  # the heartbeat that adopts `dead`'s job loses its reply
        failed = live.check_dead_workers()
        assert proxy.dropped.is_set()

        requeued = live.get_jobs_from_queue("spinach", 10)
        assert requeued == [], (
            f"the non-retryable job {job.id} of the dead worker is back in the queue and "
            f"was fetched again ({requeued}); check_dead_workers reported {failed} as failed"
        )
        assert [j.status for j in failed] == [JobStatus.FAILED]
    finally:
        for b in (dead, live):
            b.stop()
        producer.broker.flush()


def test_a_lost_adoption_reply_still_counts_the_retry(redis_server, proxy):
    """Same fault with a retryable job: it is re-queued without its attempt
    counted (retries stays 0), so a job whose runs kill its worker is retried
    for ever instead of max_retries times."""
    clock = ManualClock()
    namespace = f"sre{next(_names)}"
    producer = _engine(redis_server.client(), clock, namespace)
    dead = _engine(redis_server.client(), clock, namespace).broker
    live_client = redis.Redis(port=proxy.port, retry=Retry(NoBackoff(), 0))
    live = _engine(live_client, clock, namespace).broker
    dead.start()
    live.start()
    producer.schedule("again", "a1")
    [fetched] = dead.get_jobs_from_queue("spinach", 1)
    assert fetched.retries == 0
    try:
        for _ in range(int(THRESHOLD / live.heartbeat_interval)):
            clock.advance(live.heartbeat_interval)
            live.check_dead_workers()
        clock.advance(live.heartbeat_interval)
        proxy.drop_next_reply()
        live.check_dead_workers()
        assert proxy.dropped.is_set()
        [again] = live.get_jobs_from_queue("spinach", 10)
        assert again.retries == 1, f"adopted job re-queued with retries={again.retries}"
    finally:
        for b in (dead, live):
            b.stop()
        producer.broker.flush()


def test_a_killed_workers_job_never_runs_twice_when_the_adoption_reply_is_lost(
    fresh_redis, ledger, switch_proxy
):
    """The same fault with real worker processes: a worker is SIGKILLed while
    it runs a max_retries=0 job; the survivor's connection loses the reply of
    the heartbeat that adopts it.  The job must be reported lost
    (JobLostError) and never start again; it starts again on the survivor."""
    spin = ledger.engine(fresh_redis.client())
    victim = ledger.start_worker(fresh_redis.url, threads=2)
    job = spin.schedule("gated_once", "o1")
    ledger.wait_event(lambda e: e.startswith("start gated_once o1#1"))

    proxy = switch_proxy(fresh_redis.port)
    # The first reply on the survivor's connections naming the job is the one
    # of the heartbeat adopting it (the job is running on the victim).
    proxy.drop_reply_containing(job.id_hex.encode())
    survivor = ledger.start_worker(proxy.url, threads=2)
    victim.kill()

    rerun = ledger.watch(20, lambda e: e.startswith(("start gated_once o1#2", "failed:")))
    assert proxy.dropped.is_set(), "the adopting heartbeat's reply was not dropped"
    ledger.release("o1#2")
    assert rerun is not None and not rerun.startswith("start"), (
        f"max_retries=0 job ran twice: {rerun!r}; ledger: {ledger.records()}\n"
        f"survivor log:\n{ledger.log_of(survivor)}"
    )
