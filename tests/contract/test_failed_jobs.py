"""Contract: the registry of failed jobs, bounded, requeued with history, purged."""

from __future__ import annotations

from spinach.job import Job, JobError, JobStatus

from .helpers import heartbeat_for, make_job

BOOM = JobError("builtins.RuntimeError", "boom", "Traceback ... RuntimeError: boom")


def fail(broker, job: Job, error: JobError | None = BOOM) -> None:
    job.status, job.error = JobStatus.FAILED, error
    broker.acknowledge([job])


def run_and_fail(broker, clock, **kwargs) -> Job:
    job = make_job(clock, **kwargs)
    broker.enqueue_jobs([job])
    [running] = broker.get_jobs_from_queue("q", 1)
    fail(broker, running)
    return job


def again(failed, clock) -> Job:
    """The job to requeue in place of a failed one, as the Engine makes it."""
    old = failed.job
    job = Job._create(old.task_name, old.queue, clock.time(), old.max_retries, old.task_args,
                      old.task_kwargs, old.id_hex, 0, JobStatus.NOT_SET)  # fmt: skip
    job.track, job.result_ttl = old.track, old.result_ttl
    return job


def test_a_job_failed_for_good_is_kept_with_its_error(broker, clock):
    job = run_and_fail(broker, clock, args=(1, "x"), max_retries=2)
    ok = make_job(clock)
    broker.enqueue_jobs([ok])
    [running] = broker.get_jobs_from_queue("q", 1)
    running.status = JobStatus.SUCCEEDED
    broker.acknowledge([running])

    [failed] = broker.failed_jobs()
    assert failed.job == job and failed.id == job.id
    assert failed.job.task_args == (1, "x")
    assert failed.error == BOOM
    assert failed.worker_id == broker.id
    assert abs(failed.failed_at.timestamp() - clock.time()) < 1e-3
    assert failed.history == ()
    assert broker.failed_jobs_count() == 1
    assert broker.get_failed_job(job.id_hex) == failed
    assert broker.get_failed_job(ok.id_hex) is None


def test_a_job_lost_with_its_worker_is_kept(backend, clock):
    dead = backend.broker(broker_dead_threshold_seconds=30)
    live = backend.broker(broker_dead_threshold_seconds=30)
    dead.start()
    live.start()
    job = make_job(clock, max_retries=0)
    dead.enqueue_jobs([job])
    dead.get_jobs_from_queue("q", 1)
    assert heartbeat_for(40, clock, live) == [job]
    [failed] = live.failed_jobs()
    assert failed.job == job
    assert failed.error.type == "spinach.exc.JobLostError"


def test_the_registry_keeps_the_newest_for_a_while(broker, clock):
    broker.failed_jobs_kept, broker.failed_jobs_ttl = 3, 3600
    jobs = []
    for _ in range(5):
        jobs.append(run_and_fail(broker, clock))
        clock.advance(1)
    assert [f.job for f in broker.failed_jobs()] == jobs[:1:-1]  # newest first, 3 kept
    assert [f.job for f in broker.failed_jobs(start=1, count=1)] == [jobs[3]]
    assert broker.failed_jobs_count() == 3
    assert broker.get_failed_job(jobs[0].id_hex) is None
    clock.advance(3600)
    assert broker.failed_jobs() == []
    assert broker.failed_jobs_count() == 0
    assert broker.get_failed_job(jobs[4].id_hex) is None


def test_a_requeued_job_runs_again_and_keeps_its_history(broker, clock):
    job = make_job(clock, max_retries=1)
    job.track, job.retries = 600, 1  # its last retry
    broker.enqueue_jobs([job])
    [running] = broker.get_jobs_from_queue("q", 1)
    fail(broker, running)
    [failed] = broker.failed_jobs()
    assert failed.job.retries == 1
    clock.advance(10)

    assert broker.requeue_failed([(failed, again(failed, clock))]) == [job.id_hex]
    assert broker.failed_jobs() == []
    assert broker.get_job(job.id_hex).status is JobStatus.QUEUED
    [rerun] = broker.get_jobs_from_queue("q", 1)
    assert rerun == job and rerun.retries == 0
    clock.advance(5)
    fail(broker, rerun, JobError("builtins.KeyError", "'k'", ""))

    [failed_again] = broker.failed_jobs()
    assert failed_again.error.type == "builtins.KeyError"
    [earlier] = failed_again.history
    assert earlier.error == BOOM
    assert abs(earlier.failed_at.timestamp() - (clock.time() - 15)) < 1e-3
    assert abs(earlier.requeued_at.timestamp() - (clock.time() - 5)) < 1e-3


def test_a_stale_entry_is_not_requeued_twice(broker, clock):
    job = run_and_fail(broker, clock)
    [failed] = broker.failed_jobs()
    assert broker.requeue_failed([(failed, again(failed, clock))]) == [job.id_hex]
    # Someone else read the same entry before: it is requeued already.
    assert broker.requeue_failed([(failed, again(failed, clock))]) == []
    assert broker.queue_length("q") == 1


def test_purge_forgets_failed_jobs(broker, clock):
    jobs = [run_and_fail(broker, clock) for _ in range(3)]
    assert broker.purge_failed([jobs[0].id_hex, jobs[1].id_hex, make_job(clock).id_hex]) == 2
    assert [f.job for f in broker.failed_jobs()] == [jobs[2]]
    [failed] = broker.failed_jobs()
    assert broker.purge_failed([jobs[2].id_hex]) == 1
    assert broker.requeue_failed([(failed, again(failed, clock))]) == []  # purged: skipped


def test_a_payload_set_aside_is_kept_when_it_stands_for_a_job(backend, broker, clock):
    job = make_job(clock, args=(1,))
    payload = job.serialize()
    backend.inject(
        broker, "q", payload.replace('"args":[1]', '"args": [1]').encode()
    )  # not canonical
    backend.inject(broker, "q", b"not a job at all")
    assert broker.get_jobs_from_queue("q", 10) == []
    assert len(broker.rejected()) == 2
    [failed] = broker.failed_jobs()  # only the one that stands for a job
    assert not failed.readable
    assert failed.payload == payload.replace('"args":[1]', '"args": [1]').encode()
    assert (failed.job.id, failed.job.task_name, failed.job.queue) == (job.id, "task", "q")
    assert failed.error.type == "spinach.exc.SerializationError"
    assert "set aside as unreadable" in failed.error.message
