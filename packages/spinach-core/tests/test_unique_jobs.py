"""Unique tasks on an Engine: checked when defined, keyed when scheduled, freed when done."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from spinach import Batch, Engine, MemoryBroker, Tasks
from spinach.exc import DuplicateJobError, InvalidTaskError
from spinach.job import Job, JobStatus


@pytest.mark.parametrize(
    "options, message",
    [
        ({"unique": "yes"}, "unique must be True, False or a function"),
        ({"unique": True, "on_duplicate": "ignore"}, 'on_duplicate must be "return" or "raise"'),
        ({"unique": True, "track": False}, "a unique task is tracked"),
        ({"unique": True, "periodicity": timedelta(minutes=1)}, "cannot be unique"),
    ],
)
def test_bad_unique_options_are_refused_when_the_task_is_defined(options, message):
    tasks = Tasks()
    with pytest.raises(InvalidTaskError, match=message):
        tasks.add(lambda: None, name="sync", **options)
    assert "sync" not in tasks.tasks


def test_a_unique_task_is_tracked():
    tasks = Tasks()
    tasks.add(lambda: None, name="sync", unique=True)
    assert tasks.tasks["sync"].track is True


def test_the_default_key_is_the_task_and_its_arguments(spin):
    spin.task(lambda user, force=False, **kw: None, name="sync", unique=True)
    first = spin.schedule("sync", 1, force=True, a=1, b=2)
    same = spin.schedule("sync", 1, b=2, a=1, force=True)  # keyword order does not matter
    assert same.duplicate and same.id == first.id and same.status is JobStatus.QUEUED
    other = spin.schedule("sync", 2, force=True, a=1, b=2)
    assert not other.duplicate and other.id != first.id
    assert spin.broker.queue_length("spinach") == 2


def test_a_key_function_decides_what_is_the_same_work(spin):
    spin.task(lambda user, reason: None, name="sync", unique=lambda user, reason: f"user:{user}")
    first = spin.schedule("sync", 7, "signup")
    again = spin.schedule("sync", 7, "profile edit")
    assert again.duplicate and again.id == first.id
    assert not spin.schedule("sync", 8, "signup").duplicate
    # Tasks of different names never share a key, whatever the function says.
    spin.task(lambda user, reason: None, name="mail", unique=lambda user, reason: f"user:{user}")
    assert not spin.schedule("mail", 7, "signup").duplicate


def test_a_key_function_returning_no_str_fails_in_the_caller(spin):
    spin.task(lambda user: None, name="sync", unique=lambda user: user)
    with pytest.raises(TypeError, match="must return a non-empty str"):
        spin.schedule("sync", 7)
    assert spin.broker.queue_length("spinach") == 0


def test_on_duplicate_raise(spin):
    spin.task(lambda n: None, name="sync", unique=True, on_duplicate="raise")
    first = spin.schedule("sync", 1)
    with pytest.raises(DuplicateJobError, match="holds the same key and is queued") as raised:
        spin.schedule("sync", 1)
    [refused] = raised.value.duplicates
    assert refused.id == first.id and refused.duplicate
    assert spin.broker.queue_length("spinach") == 1

    batch = Batch()
    batch.schedule("sync", 2)
    batch.schedule("sync", 1)
    with pytest.raises(DuplicateJobError):
        spin.schedule_batch(batch)
    # The batch's other job was scheduled, and the batch cannot be sent again.
    assert spin.broker.queue_length("spinach") == 2
    with pytest.raises(Exception, match="already"):
        spin.schedule_batch(batch)


def test_a_batch_and_a_prepared_batch_respect_keys(spin):
    spin.task(lambda n: None, name="sync", unique=True)
    batch = Batch()
    for n in (1, 2, 1):
        batch.schedule("sync", n)
    jobs = spin.schedule_batch(batch)
    assert [job.duplicate for job in jobs] == [False, False, True]
    assert jobs[2].id == jobs[0].id
    prepared = Batch()
    prepared.schedule("sync", 2)
    [later] = spin.prepare_batch(prepared).schedule()
    assert later.duplicate and later.id == jobs[1].id


def test_the_key_is_free_again_once_the_job_ran(namespace, engines, wait_until):
    spin = Engine(MemoryBroker(), namespace=namespace)
    engines.append(spin)
    gate, ran = threading.Event(), []

    @spin.task(name="sync", unique=True)
    def sync(n):
        ran.append(n)
        assert gate.wait(10)

    first = spin.schedule("sync", 1)
    spin.start_workers(number=1, block=False)
    try:
        wait_until(lambda: ran == [1], what="the first job started")
        running = spin.schedule("sync", 1)
        assert (running.duplicate, running.id, running.status) == (
            True,
            first.id,
            JobStatus.RUNNING,
        )
        gate.set()
        wait_until(lambda: spin.get_job(first.id).status is JobStatus.SUCCEEDED)
        again = spin.schedule("sync", 1)
        assert not again.duplicate and again.id != first.id
        wait_until(lambda: ran == [1, 1], what="the second job ran")
    finally:
        spin.stop_workers()


def test_a_payload_written_with_a_key_round_trips():
    job = Job("sync", "q", Job("x", "q", _epoch(), 0).at, 0, (1,), {"a": 2})
    job.track, job.unique = 600, "ab" * 20
    again = Job.deserialize(job.serialize())
    assert (again.unique, again.track, again.task_kwargs) == (job.unique, 600, {"a": 2})
    assert Job.deserialize(Job("x", "q", _epoch(), 0).serialize()).unique is None


def _epoch():
    from spinach.utils import from_timestamp

    return from_timestamp(0)


def test_the_memory_broker_forgets_keys_of_ended_jobs_and_takes_stale_ones(spin):
    spin.task(lambda n: None, name="sync", unique=True)
    keys = spin.broker._ns.unique
    job = spin.schedule("sync", 1)
    assert list(keys.values()) == [job.id.hex]
    spin.cancel(job.id)
    assert keys == {}
    # A key naming a job that ended without freeing it holds nothing.
    digest = spin.tasks["sync"].unique_digest((1,), {})
    keys[digest] = "f" * 32
    again = spin.schedule("sync", 1)
    assert not again.duplicate and keys == {digest: again.id.hex}


def test_aschedule_reads_a_duplicate_back_off_the_event_loop(spin):
    import asyncio

    spin.task(lambda n: None, name="sync", unique=True)
    first = spin.schedule("sync", 1)
    loop_thread = []
    get_job = spin.broker.get_job

    def recording_get_job(job_id):
        loop_thread.append(threading.current_thread())
        return get_job(job_id)

    spin.broker.get_job = recording_get_job

    async def main():
        job = await spin.aschedule("sync", 1)
        return job, threading.current_thread()

    job, loop = asyncio.run(main())
    assert job.duplicate and job.id == first.id
    assert loop_thread and loop not in loop_thread  # read in the executor
