"""Following jobs through an Engine: records, cancellation, the current job.

The same tests run on the MemoryBroker and on a real Redis server, with real
worker threads and event loops.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta

import pytest

from spinach import (
    AbortException,
    AsyncioWorkers,
    Batch,
    Engine,
    JobStatus,
    MemoryBroker,
    Tasks,
    current_job,
)
from spinach.exc import (
    InvalidTaskError,
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    JobResultTimeoutError,
    ResultNotStoredError,
    SpinachError,
)


def run_until_empty(spin, **kwargs):
    spin.start_workers(number=kwargs.pop("number", 2), stop_when_queue_empty=True, **kwargs)


def test_an_untracked_job_cannot_be_looked_up_or_cancelled(make_spin):
    spin = make_spin()

    @spin.task(name="plain")
    def plain():
        pass

    job = spin.schedule(plain)
    assert spin.get_job(job.id) is None
    with pytest.raises(JobNotFoundError, match="not tracked"):
        spin.cancel(job.id)
    with pytest.raises(JobNotFoundError):
        job.refresh()


def test_a_tracked_job_is_followed_to_its_end(make_spin):
    spin = make_spin()

    @spin.task(name="work", track=True)
    def work(x):
        me = current_job()
        assert me is not None and me.id == job.id and me.task_args == (x,)
        seen.append(spin.get_job(me.id).status)

    seen: list[JobStatus] = []
    job = spin.schedule(work, 7)
    assert job.refresh().status is JobStatus.QUEUED
    assert job.enqueued_at is not None and job.started_at is None
    run_until_empty(spin)
    assert seen == [JobStatus.RUNNING]
    record = spin.get_job(str(job.id))  # the text form works too
    assert record.status is JobStatus.SUCCEEDED
    assert record.task_args == (7,)
    assert record.worker_id is not None
    assert record.enqueued_at <= record.started_at <= record.finished_at
    assert current_job() is None  # outside of a job


def test_a_failed_job_keeps_its_error(make_spin):
    spin = make_spin()

    @spin.task(name="broken", track=True)
    def broken():
        raise ValueError("no such customer 42")

    job = spin.schedule(broken)
    run_until_empty(spin)
    job.refresh()
    assert job.status is JobStatus.FAILED
    assert job.error.type == "builtins.ValueError"
    assert job.error.message == "no such customer 42"
    assert "in broken" in job.error.traceback
    assert "ValueError: no such customer 42" in job.error.traceback


def test_a_queued_or_future_job_cancelled_never_runs(make_spin):
    spin = make_spin()
    ran = []

    @spin.task(name="victim", track=True)
    def victim(n):
        ran.append(n)

    now = spin.schedule(victim, 1)
    later = spin.schedule_at(victim, spin.broker.clock.now() + timedelta(seconds=1), 2)
    kept = spin.schedule(victim, 3)
    assert now.cancel() is JobStatus.CANCELLED
    assert spin.cancel(later.id) is JobStatus.CANCELLED
    run_until_empty(spin)
    assert ran == [3]
    assert spin.get_job(now.id).status is JobStatus.CANCELLED
    assert spin.get_job(kept.id).status is JobStatus.SUCCEEDED
    assert spin.cancel(kept.id) is JobStatus.SUCCEEDED  # finished: left alone


def test_a_batch_is_cancelled_as_a_whole(make_spin):
    spin = make_spin()

    @spin.task(name="item", track=True)
    def item(n):
        raise AssertionError("cancelled jobs must not run")

    batch = Batch()
    for n in range(50):
        batch.schedule(item, n)
    jobs = spin.schedule_batch(batch)
    assert spin.cancel_jobs(jobs) == [JobStatus.CANCELLED] * 50
    run_until_empty(spin)  # the workers drop them: none runs
    assert spin.broker.queue_length("spinach") == 0
    with pytest.raises(JobNotFoundError):  # one unknown id: none is cancelled
        spin.cancel_jobs([jobs[0], uuid.uuid4()])


def test_a_running_threaded_job_sees_the_request_and_is_not_retried(make_spin):
    spin = make_spin()
    started, attempts = threading.Event(), []

    @spin.task(name="long", track=True, max_retries=5)
    def long():
        me = current_job()
        attempts.append(me.retries)
        started.set()
        step = threading.Event()
        for _ in range(2000):  # at most 10 s: without a cancel it succeeds, and fails the test
            me.raise_if_cancelled()
            step.wait(0.005)  # a step of the job's own work

    job = spin.schedule(long)
    spin.start_workers(number=2, block=False)
    try:
        assert started.wait(10)
        assert job.cancel() is JobStatus.RUNNING
    finally:
        spin.stop_workers()  # waits for the running job to end and be acknowledged
    record = spin.get_job(job.id)
    assert record.status is JobStatus.CANCELLED
    assert record.cancel_requested
    assert record.error.type == "spinach.exc.JobCancelledError"
    assert attempts == [0]


def test_a_running_async_job_is_cancelled(make_spin):
    spin = make_spin()
    started, finished = threading.Event(), []

    @spin.task(name="waiter", track=True, max_retries=3)
    async def waiter():
        started.set()
        try:  # without a cancel it times out after 10 s, and fails the test
            await asyncio.wait_for(asyncio.Event().wait(), 10)
        finally:
            finished.append(current_job().cancel_requested)

    job = spin.schedule(waiter)
    spin.start_workers(number=4, block=False, workers_class=AsyncioWorkers)
    try:
        assert started.wait(10)
        assert spin.cancel(job.id) is JobStatus.RUNNING
    finally:
        spin.stop_workers()  # waits for the running job to end and be acknowledged
    assert finished == [True]
    record = spin.get_job(job.id)
    assert record.status is JobStatus.CANCELLED
    assert record.retries == 0


def test_engine_wide_tracking_and_task_opt_out():
    spin = Engine(MemoryBroker(), track_jobs=True, finished_jobs_ttl=timedelta(hours=2))

    @spin.task(name="followed")
    def followed():
        pass

    @spin.task(name="ignored", track=False)
    def ignored():
        pass

    assert spin.schedule(followed).track == 7200
    assert spin.get_job(spin.schedule(followed).id) is not None
    assert spin.get_job(spin.schedule(ignored).id) is None


def test_bad_input_is_refused_at_the_call():
    spin = Engine(MemoryBroker())
    with pytest.raises(TypeError):
        spin.get_job(42)
    with pytest.raises(ValueError, match="not a job id"):
        spin.get_job("nope")
    with pytest.raises(ValueError, match="not a job id"):
        spin.cancel("nope")
    assert spin.get_job(uuid.uuid4()) is None
    with pytest.raises(JobNotFoundError):
        spin.cancel(uuid.uuid4())
    with pytest.raises(ValueError, match="finished_jobs_ttl"):
        Engine(MemoryBroker(), finished_jobs_ttl=-1)
    with pytest.raises(ValueError, match="finished_jobs_ttl"):
        Engine(MemoryBroker(), finished_jobs_ttl=timedelta(0))
    with pytest.raises(TypeError, match="track_jobs"):
        Engine(MemoryBroker(), track_jobs="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidTaskError, match="track"):
        Tasks().add(lambda: None, name="t", track="yes")  # type: ignore[arg-type]
    from spinach import Job

    with pytest.raises(SpinachError, match="get_job"):
        Job("t", "q", spin.broker.clock.now(), 0).refresh()


# -- results ---------------------------------------------------------------------


def test_result_waits_for_what_the_task_returned(make_spin):
    spin = make_spin()

    @spin.task(name="add", store_result=True)
    def add(a, b):
        return {"sum": a + b, "parts": (a, b)}

    job = spin.schedule(add, 2, 3)
    with pytest.raises(JobResultTimeoutError):
        job.result(timeout=0.05)  # no worker yet: the job goes on
    spin.start_workers(number=2, block=False)
    try:
        assert job.result(timeout=10) == {"sum": 5, "parts": [2, 3]}
        assert job.result(timeout=0) == {"sum": 5, "parts": [2, 3]}  # kept: read again
    finally:
        spin.stop_workers()


def test_aresult_waits_without_blocking_the_loop(make_spin):
    spin = make_spin()

    @spin.task(name="double", store_result=timedelta(minutes=5))
    async def double(x):
        return x * 2

    async def main():
        job = await spin.aschedule(double, 21)
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.ensure_future(tick())
        value = await job.aresult(timeout=10)
        ticker.cancel()
        return value, ticks

    spin.start_workers(number=2, block=False, workers_class=AsyncioWorkers)
    try:
        value, ticks = asyncio.run(main())
    finally:
        spin.stop_workers()
    assert value == 42
    assert ticks > 0  # the loop ran while the result was awaited


def test_a_failed_job_raises_the_remote_error(make_spin):
    spin = make_spin()

    @spin.task(name="broken", store_result=True, max_retries=0)
    def broken(customer):
        raise LookupError(f"no such customer {customer}")

    job = spin.schedule(broken, 42)
    run_until_empty(spin)
    with pytest.raises(JobFailedError, match=r"builtins\.LookupError: no such customer 42") as info:
        job.result(timeout=5)
    assert info.value.error.type == "builtins.LookupError"
    assert "in broken" in info.value.error.traceback
    assert info.value.job_id == job.id


def test_a_value_json_cannot_carry_fails_the_job_for_good(make_spin):
    spin = make_spin()
    runs = []

    @spin.task(name="returns_a_set", store_result=True, max_retries=3, track=True)
    def returns_a_set():
        runs.append(1)
        return {1, 2}

    job = spin.schedule(returns_a_set)
    run_until_empty(spin)
    with pytest.raises(JobFailedError, match="is a set, which JSON cannot carry"):
        job.result(timeout=5)
    assert runs == [1]  # not retried: it would do its work again for the same value
    assert spin.get_job(job.id).status is JobStatus.FAILED


def test_a_cancelled_job_raises_cancelled(make_spin):
    spin = make_spin()

    @spin.task(name="never", store_result=True, track=True)
    def never():
        raise AssertionError("cancelled before it ran")

    job = spin.schedule(never)
    job.cancel()
    with pytest.raises(JobCancelledError):
        job.result(timeout=5)


def test_waiting_is_refused_at_the_call_when_it_cannot_work(make_spin):
    spin = make_spin()

    @spin.task(name="silent")
    def silent():
        return 1

    @spin.task(name="loud", store_result=True)
    def loud():
        return 1

    with pytest.raises(ResultNotStoredError, match="store_result=True"):
        spin.schedule(silent).result(timeout=1)
    with pytest.raises(ResultNotStoredError):
        asyncio.run(spin.schedule(silent).aresult(timeout=1))
    job = spin.schedule(loud)
    with pytest.raises(ValueError, match="timeout"):
        job.result(timeout=-1)
    with pytest.raises(TypeError, match="timeout"):
        job.result(timeout="1")  # type: ignore[arg-type]
    with pytest.raises(InvalidTaskError, match="store_result"):
        spin.task(lambda: None, name="bad", store_result="yes")
    with pytest.raises(InvalidTaskError, match="store_result"):
        spin.task(lambda: None, name="bad2", store_result=timedelta(0))


# -- timeouts --------------------------------------------------------------------


def test_a_threaded_job_past_its_timeout_is_interrupted_and_retried(make_spin):
    spin = make_spin()
    attempts = []

    @spin.task(name="spins", track=True, store_result=True, max_retries=1,
               timeout=timedelta(milliseconds=200))  # fmt: skip
    def spins():
        me = current_job()
        attempts.append(me.deadline)
        step = threading.Event()
        for _ in range(2000):  # pure Python work: interrupted at the deadline
            step.wait(0.005)
        return "finished"  # only if the timeout did not work

    job = spin.schedule(spins)
    spin.start_workers(number=2, block=False)
    try:
        with pytest.raises(JobFailedError, match="JobTimeoutError"):
            job.result(timeout=30)
    finally:
        spin.stop_workers()
    assert len(attempts) == 2 and all(d is not None for d in attempts)  # retried once
    record = spin.get_job(job.id)
    assert record.status is JobStatus.FAILED
    assert record.error.type == "spinach.exc.JobTimeoutError"
    assert "timeout of 0:00:00.200000" in record.error.message
    assert spin.get_failed_job(job.id).error.type == "spinach.exc.JobTimeoutError"


def test_a_thread_that_cannot_be_interrupted_gives_its_slot_back(make_spin):
    spin = make_spin()
    release = threading.Event()
    ran = threading.Event()

    @spin.task(name="stuck", track=True, timeout=timedelta(milliseconds=100),
               max_retries=1, max_concurrency=1)  # fmt: skip
    def stuck():
        if current_job().retries == 0:
            release.wait()  # blocked in C: the interrupt waits for it to return
        ran.set()

    @spin.task(name="other", store_result=True)
    def other():
        return "ran"

    job = spin.schedule(stuck)
    spin.start_workers(number=1, block=False)  # one slot: the stuck job holds it
    try:
        # The slot comes back: another job runs; the concurrency token comes back:
        # the retry of the stuck job runs too.
        assert spin.schedule(other).result(timeout=30) == "ran"
        assert ran.wait(30)
    finally:
        spin.stop_workers()
        release.set()  # let the abandoned thread end
    record = spin.get_job(job.id)
    assert record.status is JobStatus.SUCCEEDED  # its retry
    assert record.retries == 1
    assert record.error.type == "spinach.exc.JobTimeoutError"


def test_an_async_job_past_its_timeout_is_cancelled(make_spin):
    spin = make_spin()

    @spin.task(name="sleepy", store_result=True, timeout=timedelta(milliseconds=100))
    async def sleepy():
        await asyncio.Event().wait()

    job = spin.schedule(sleepy)
    spin.start_workers(number=4, block=False, workers_class=AsyncioWorkers)
    try:
        with pytest.raises(JobFailedError, match="JobTimeoutError") as info:
            job.result(timeout=30)
    finally:
        spin.stop_workers()
    assert "ran longer than its timeout" in info.value.error.message


def test_timeouts_are_checked_at_definition():
    tasks = Tasks()
    with pytest.raises(InvalidTaskError, match="timeout must be positive"):
        tasks.add(lambda: None, name="zero", timeout=timedelta(0))
    with pytest.raises(InvalidTaskError, match="timeout must be a timedelta"):
        tasks.add(lambda: None, name="number", timeout=5)  # type: ignore[arg-type]


# -- failed jobs -------------------------------------------------------------------


def test_failed_jobs_are_kept_requeued_and_purged(make_spin):
    spin = make_spin()
    fixed = threading.Event()

    @spin.task(name="flaky", track=True)
    def flaky(n):
        if not fixed.is_set():
            raise ConnectionError(f"database down ({n})")

    @spin.task(name="aborts", max_retries=3)
    def aborts():
        raise AbortException("bad input, do not retry")

    jobs = [spin.schedule(flaky, n) for n in range(3)]
    aborted = spin.schedule(aborts)
    run_until_empty(spin)
    assert spin.failed_jobs_count() == 4
    assert {f.job for f in spin.failed_jobs(task="flaky")} == set(jobs)
    [entry] = spin.failed_jobs(task="aborts")
    assert entry.job == aborted
    assert entry.error.type == "spinach.exc.AbortException"
    assert entry.job.retries == 0  # aborted: not retried

    fixed.set()
    assert spin.requeue_failed([jobs[0].id]) == 1
    assert spin.requeue_failed(task="flaky") == 2
    run_until_empty(spin)
    assert all(spin.get_job(j.id).status is JobStatus.SUCCEEDED for j in jobs)
    assert [f.job for f in spin.failed_jobs()] == [aborted]
    assert spin.purge_failed(all=True) == 1
    assert spin.failed_jobs() == []


def test_failed_jobs_selection_is_checked_at_the_call(make_spin):
    spin = make_spin()
    with pytest.raises(TypeError, match="exactly one"):
        spin.requeue_failed()
    with pytest.raises(TypeError, match="exactly one"):
        spin.purge_failed([uuid.uuid4()], all=True)
    with pytest.raises(TypeError, match="list of ids"):
        spin.requeue_failed(str(uuid.uuid4()))  # type: ignore[arg-type]
    with pytest.raises(JobNotFoundError, match="registry of failed jobs"):
        spin.requeue_failed([uuid.uuid4()])
    with pytest.raises(TypeError, match="failed_jobs_kept"):
        Engine(MemoryBroker(), failed_jobs_kept="many")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="failed_jobs_ttl"):
        Engine(MemoryBroker(), failed_jobs_ttl=0)


def test_signed_payloads_are_followed_too(broker_kind, request):
    """The scripts read the tracking fields before a signature (74 characters)."""
    if broker_kind == "memory":
        broker = MemoryBroker()
    else:
        from spinach.brokers.redis import RedisBroker

        broker = RedisBroker(request.getfixturevalue("redis_server").client())
    spin = Engine(broker, namespace=f"signed-{uuid.uuid4().hex[:8]}", signing_key=b"k" * 32)

    @spin.task(name="signed", track=True, store_result=True)
    def signed(x):
        return x * 2

    @spin.task(name="plain_signed")
    def plain_signed(x):
        return x

    job = spin.schedule(signed, 21)
    other = spin.schedule(plain_signed, 1)
    assert spin.get_job(job.id).status is JobStatus.QUEUED
    run_until_empty(spin)
    try:
        assert job.result(timeout=5) == 42
        assert spin.get_job(job.id).status is JobStatus.SUCCEEDED
        assert spin.get_job(other.id) is None
    finally:
        spin.broker.flush()


def test_an_unreadable_payload_is_kept_but_never_requeued(make_spin, caplog):
    spin = make_spin()

    @spin.task(name="victim")
    def victim(x):
        raise AssertionError("a payload set aside never runs")

    job = spin.schedule(victim, 1)
    forged = f'{{"id":"{"ab" * 16}","task_name":"victim","queue":"spinach","at":1e10}}'
    spin.broker.inject_raw_payload("spinach", forged)  # a head, then no valid job
    run_until_empty(spin)
    [failed] = [f for f in spin.failed_jobs() if not f.readable]
    assert failed.job.task_name == "victim" and failed.job.id.hex == "ab" * 16
    assert failed.payload == forged.encode()
    assert spin.requeue_failed(all=True) == 1  # the readable one (it failed) only
    assert "Not requeueing 1 failed jobs whose payload was set aside" in caplog.text
    assert spin.purge_failed([failed.id]) == 1
    assert job.id != failed.id


def test_an_async_job_on_thread_workers_times_out_as_such(make_spin):
    spin = make_spin()

    @spin.task(name="async_on_threads", store_result=True, timeout=timedelta(milliseconds=100))
    async def async_on_threads():
        await asyncio.Event().wait()

    job = spin.schedule(async_on_threads)
    spin.start_workers(number=1, block=False)  # ThreadWorkers: the task gets its own loop
    try:
        with pytest.raises(JobFailedError, match="JobTimeoutError"):
            job.result(timeout=30)
    finally:
        spin.stop_workers()
