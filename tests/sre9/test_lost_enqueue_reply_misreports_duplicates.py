"""A retried enqueue whose first reply was lost reports the wrong job.

Failure: when the reply of enqueue.lua is lost (connection reset after the
server ran it), ``RedisBroker.enqueue_jobs`` retries with the same producer
sequence number, the script answers 0 ("applied already") and
``_find_holders`` guesses each unique job's fate from what ``{ns}:unique``
says *now*, not from what the first call did:

1. the job was a duplicate of a live job H, and H ended between the lost
   reply and the read-back (a worker on a healthy connection finished it;
   the producer's retry backoff lasts up to seconds): the key is free (or
   names a job that ended), so the job is reported as a fresh job,
   ``duplicate=False``, ``status=QUEUED``, under its *own* id -- an id that
   was never enqueued and has no record. ``get_job`` says None,
   ``job.result()`` waits for an outcome that never comes, a cancel finds
   nothing, and the work the caller asked for runs nowhere (the duplicate
   was dropped, H is over);
2. the job took the key, ran and ended on a fast worker, and another
   producer's job N took the key meanwhile: the job is reported as a
   duplicate of N (``duplicate=True``, N's id). The caller now follows a job
   it did not schedule; with ``on_duplicate="raise"`` it is told that nothing
   was scheduled, although its job ran.

Impact: a lost job from the caller's point of view (case 1: it believes its
work is queued; nothing will ever run it and nothing tells it), or a wrong
job id (case 2: results and cancels go to somebody else's job; a "raise"
caller retries work that already ran).

Suggested fix: make the first call's outcome recoverable: store the reply
of a call that has unique jobs under its idempotency key (``idem:<producer>``
already exists: keep ``sequence|reply`` for IDEMPOTENCY_TTL_MS) and return
it to the retry, instead of re-deriving it from the current keys.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import pytest
from redis.exceptions import ConnectionError

from spinach.brokers.redis import RedisBroker
from spinach.clock import ManualClock
from spinach.job import Job, JobStatus
from spinach.utils import from_timestamp

pytestmark = pytest.mark.redis

_names = itertools.count()


def unique_job(clock: ManualClock, key: str = "k") -> Job:
    job = Job("sync", "q", from_timestamp(clock.time()), 0, (), {})
    job.track = 600
    job.unique = hashlib.sha1(key.encode()).hexdigest()
    return job


@pytest.fixture
def brokers(redis_server: Any) -> Any:
    made: list[RedisBroker] = []
    namespace = f"sre9lost{next(_names)}"
    clock = ManualClock()

    def make() -> RedisBroker:
        broker = RedisBroker(redis_server.client(), clock=clock)
        broker.namespace = namespace
        made.append(broker)
        return broker

    make.clock = clock  # type: ignore[attr-defined]
    yield make
    for broker in made:
        broker.stop()
    made[0].flush()


def lose_first_enqueue_reply(monkeypatch, broker: RedisBroker, meanwhile) -> list[Any]:
    """The first enqueue call is applied by the real server, then its reply is lost;
    ``meanwhile()`` runs before the producer's retry (what other processes do)."""
    run = broker._scripts.run
    lost: list[Any] = []

    def run_losing_reply(client, name, keys, args):
        reply = run(client, name, keys, args)
        if name == "enqueue" and not lost:
            lost.append(reply)
            meanwhile()
            raise ConnectionError("Connection reset by peer")
        return reply

    monkeypatch.setattr(broker._scripts, "run", run_losing_reply)
    return lost


def test_a_duplicate_whose_holder_ended_meanwhile_is_reported_as_queued(brokers, monkeypatch):
    clock = brokers.clock
    producer, worker = brokers(), brokers()
    worker.start()
    holder = unique_job(clock)
    producer.enqueue_jobs([holder])
    [running] = worker.get_jobs_from_queue("q", 1)

    def holder_finishes() -> None:
        running.status = JobStatus.SUCCEEDED
        worker.acknowledge([running])

    lost = lose_first_enqueue_reply(monkeypatch, producer, holder_finishes)
    job = unique_job(clock)
    own_id = job.id_hex
    producer.enqueue_jobs([job])
    assert lost and not isinstance(lost[0], str), "the first call did not find a duplicate"

    # The first call refused the job (its holder was running): nothing was enqueued.
    assert producer.queue_length("q") == 0 and producer.get_job(own_id) is None
    assert job.duplicate or producer.get_job(job.id_hex) is not None, (
        f"enqueue_jobs reported job {job.id} as {job.status.name}, not a duplicate, "
        "but no job with that id was ever enqueued: the caller's work is lost"
    )


def test_a_job_that_ran_meanwhile_is_reported_as_the_duplicate_of_another(brokers, monkeypatch):
    clock = brokers.clock
    producer, worker, other_producer = brokers(), brokers(), brokers()
    worker.start()
    newer: list[Job] = []

    def it_runs_and_another_takes_the_key() -> None:
        [running] = worker.get_jobs_from_queue("q", 1)
        running.status = JobStatus.SUCCEEDED
        worker.acknowledge([running])
        other = unique_job(clock)
        other_producer.enqueue_jobs([other])
        assert not other.duplicate
        newer.append(other)

    lose_first_enqueue_reply(monkeypatch, producer, it_runs_and_another_takes_the_key)
    job = unique_job(clock)
    own_id = job.id_hex
    producer.enqueue_jobs([job])

    assert producer.get_job(own_id).status is JobStatus.SUCCEEDED  # it was enqueued, and ran
    assert (job.duplicate, job.id_hex) == (False, own_id), (
        f"the job that ran ({own_id}) is reported as a duplicate of job "
        f"{job.id_hex} (the other producer's: {newer[0].id_hex})"
    )
