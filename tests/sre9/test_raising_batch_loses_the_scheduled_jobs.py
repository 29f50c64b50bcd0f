"""A batch refused in part with DuplicateJobError hides the jobs it did schedule.

Failure: with ``on_duplicate="raise"``, ``schedule_batch`` (and
``aschedule_batch``, ``PreparedBatch.schedule``) enqueues the batch, then
raises :class:`DuplicateJobError` if any job was a duplicate.  The other jobs
*were* scheduled (the docstring says so) and the batch is marked scheduled
(it cannot be sent again), but the caller never gets their Job objects: the
list that ``schedule_batch`` returns is lost in the raise and the exception
only carries ``duplicates``.  A ``Batch`` keeps no jobs either.

Impact: the caller cannot follow, await or cancel the jobs it just
scheduled (no ids), cannot record them (an outbox marking which rows got a
job), and a natural retry of "the rest of the batch" is refused ("this
batch was scheduled already") or, rebuilt, schedules them twice. The
scheduled jobs run untracked by their producer.

Suggested fix: give DuplicateJobError the scheduled jobs too (e.g.
``error.jobs``: every job of the call, duplicates marked), or make batches
never raise and let the caller look at ``job.duplicate``.
"""

from __future__ import annotations

import pytest

from spinach import Batch
from spinach.exc import DuplicateJobError
from spinach.job import Job, JobStatus


def test_the_caller_gets_the_jobs_a_refused_batch_scheduled(engine_on):
    engine = engine_on()
    engine.task(lambda account: None, name="sync", queue="q", unique=True, on_duplicate="raise")
    engine.schedule("sync", 1)

    batch = Batch()
    for account in (1, 2, 3):
        batch.schedule("sync", account)
    with pytest.raises(DuplicateJobError) as raised:
        engine.schedule_batch(batch)

    queued = {job.id_hex for job in engine.broker.get_jobs_from_queue("q", 10)}
    assert len(queued) == 3  # sync(1) of before, and sync(2), sync(3) of the batch
    error = raised.value
    handed = {
        value.id_hex
        for attribute in vars(error).values()
        for value in (attribute if isinstance(attribute, (list, tuple)) else [attribute])
        if isinstance(value, Job) and not value.duplicate
    }
    assert len(handed) == 2, (
        "schedule_batch scheduled sync(2) and sync(3), but the DuplicateJobError it "
        f"raised gives the caller {len(handed)} of them (attributes: {sorted(vars(error))})"
    )
    assert all(engine.get_job(job_id).status is JobStatus.RUNNING for job_id in queued)
