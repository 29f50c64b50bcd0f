"""Requeueing failed jobs runs several live jobs of one unique key at once.

Failure: ``Engine.requeue_failed`` (both brokers: requeue_failed.lua's
``claim_unique`` and ``MemoryBroker.requeue_failed``) puts a failed unique
job back in its queue *whatever holds its key*: it "takes its key if free",
and otherwise runs anyway, next to the live job that holds it.  So:

* a unique job that failed for good, then scheduled again by the
  application (its key was freed by the failure, the new job holds it) and
  requeued by the operator, gives two queued jobs with one key: two workers
  fetch both and run them at the same time;
* an outage that failed a unique job N times in a row (each failure frees
  the key, the next schedule runs and fails too) leaves N failed entries of
  one key; ``requeue_failed(task=...)`` -- what the runbook does after the
  outage -- requeues all N and N workers run the same unique work at once.

The requeued jobs that did not get the key hold nothing: once the job that
does hold it ends, the application can schedule yet another one while they
still run.

Impact: the guarantee the feature sells ("never lets two live jobs share a
key", commit 372df44) is broken by the most ordinary recovery step. Unique
tasks are used exactly for work that must not run twice concurrently
(charging an account, syncing a mailbox, rebuilding an index): after an
incident the requeue runs it N times in parallel.

Suggested fix: in requeue_failed (script and memory), a failed job whose key
is held by another live job is not requeued (left in the registry, or ended
as a duplicate of the live one, reported to the caller), and two failed jobs
of one key in one requeue call requeue only the first; or document that an
operator's requeue ignores uniqueness and make ``requeue_failed`` say how many
were skipped or requeued over a held key.
"""

from __future__ import annotations

from spinach.job import JobStatus

LIVE = (JobStatus.WAITING, JobStatus.QUEUED, JobStatus.RUNNING)


def _sync_engine(engine_on):
    engine = engine_on()
    engine.task(lambda account: None, name="sync", queue="q", unique=True)
    return engine


def test_a_requeued_job_runs_next_to_the_live_holder_of_its_key(engine_on, run_as_worker):
    engine = _sync_engine(engine_on)
    failed = engine.schedule("sync", 42)
    run_as_worker(engine, "q", JobStatus.FAILED)  # failed for good: key freed
    holder = engine.schedule("sync", 42)
    assert not holder.duplicate  # the application schedules it again: it holds the key

    # The operator's recovery step: (fixed) a failed job whose key a live job
    # holds is not requeued, and stays in the registry of failed jobs.
    assert engine.requeue_failed(task="sync") == 0
    assert engine.get_failed_job(failed.id) is not None

    live = [job.id for job in (failed, holder) if engine.get_job(job.id).status in LIVE]
    running = engine.broker.get_jobs_from_queue("q", 10)  # two worker slots
    assert len(running) <= 1 and len(live) <= 1, (
        f"{len(running)} jobs of one unique key run at once "
        f"(live: {live}; the requeued one was {failed.id}, the holder {holder.id})"
    )


def test_requeueing_an_outage_of_failures_runs_them_all_at_once(engine_on, run_as_worker):
    engine = _sync_engine(engine_on)
    for _ in range(3):  # each failure frees the key; the next schedule runs and fails
        job = engine.schedule("sync", 42)
        assert not job.duplicate
        run_as_worker(engine, "q", JobStatus.FAILED)
    # After the outage: (fixed) the first takes the key and runs, the others
    # wait in the registry for the operator to requeue or purge them.
    assert engine.requeue_failed(task="sync") == 1
    assert engine.failed_jobs_count() == 2

    running = engine.broker.get_jobs_from_queue("q", 10)
    assert len(running) <= 1, (
        f"requeue_failed(task='sync') put {len(running)} jobs of one unique key in the "
        "queue: they all run at once"
    )
