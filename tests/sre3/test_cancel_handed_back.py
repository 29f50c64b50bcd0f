"""A job cancelled while a worker that does not know its task holds it runs anyway.

Scenario (production, a rolling deploy): a tracked job of a new task is
fetched by a worker of the previous deploy, which does not know the task and
hands it back (the arbiter's ``_hand_back_unknown``: ``job.hand_back()``,
then acknowledged with outcome ``'h'``).  While that worker holds it, an
operator cancels it: the record says RUNNING, so cancel.lua sets
``cancel = 1`` and returns ``RUNNING`` ("a request was sent").

acknowledge() turns a requested cancel into CANCELLED for the outcomes
``'q'`` and ``'f'`` only: the ``'h'`` hand-back puts the job back with the
future jobs, WAITING, ``cancel`` still 1.  A worker that knows the task
fetches it a second later; nothing tells it the job was cancelled (the
fetch does not read the flag), so the job runs to its end and is recorded
SUCCEEDED.  The operator was told the job would stop; it ran from the start.

The old worker is driven through the broker calls its arbiter makes, so the
cancel lands deterministically while the job is held; the worker that runs
the job is a real process.
"""

from __future__ import annotations

from spinach import JobStatus
from spinach.brokers.redis import RedisBroker

from .conftest import producer


def test_a_job_cancelled_while_handed_back_never_runs(redis_server, ledger, wait_until):
    client = redis_server.client()
    spin = producer(client, ledger.namespace)
    job = spin.schedule("once", "tok")

    # A worker of the previous deploy, which does not know 'once', fetches it.
    old = RedisBroker(redis_server.client())
    old.namespace = ledger.namespace
    old.start()
    try:
        [held] = old.get_jobs_from_queue("spinach", 1)
        assert spin.get_job(job.id).status is JobStatus.RUNNING

        # The operator cancels it while it is held.
        assert spin.cancel(job.id) is JobStatus.RUNNING

        # The old worker hands it back, as its arbiter does (due again in 1 s).
        held.hand_back(old.clock.time() + 1.0)
        old.acknowledge([held])
    finally:
        old.stop()
    record = spin.get_job(job.id)
    assert record.cancel_requested

    # A worker that knows the task comes along.
    ledger.start_worker(redis_server.url, threads=2)
    ran = ledger.watch(10, lambda e: e.startswith("run once tok"))
    assert ran is None, (
        f"the cancelled job ran ({ran}); its record says "
        f"{spin.get_job(job.id).status.name}, cancel_requested="
        f"{spin.get_job(job.id).cancel_requested}"
    )
    assert spin.get_job(job.id).status is JobStatus.CANCELLED
