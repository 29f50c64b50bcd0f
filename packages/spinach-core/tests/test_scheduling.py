"""Scheduling: bad input is refused in the caller's code, nothing leaks."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from spinach import Batch, Engine, JobStatus, MemoryBroker, Tasks
from spinach.exc import (
    InvalidJobSignatureError,
    InvalidTaskError,
    NamespaceError,
    SerializationError,
    UnknownTaskError,
)


@pytest.fixture
def client(clock):
    spin = Engine(MemoryBroker(clock=clock))

    @spin.task(name="compute", max_retries=2, queue="math")
    def compute(a, b, *, scale=1):
        return (a + b) * scale

    @spin.task(name="anything")
    def anything(*args, **kwargs):
        pass

    return spin


def queued(spin, queue="math"):
    return spin.broker.queue_length(queue)


def test_schedule_by_name_function_or_task(client):
    compute = client.tasks["compute"]
    jobs = [
        client.schedule("compute", 1, 2),
        client.schedule(compute.func, 1, b=2),
        client.schedule(compute, 1, 2, scale=3),
    ]
    for job in jobs:
        assert job.task_name == "compute"
        assert job.queue == "math"
        assert job.max_retries == 2
        assert job.retries == 0
        assert job.status is JobStatus.QUEUED
        assert isinstance(job.id, uuid.UUID)
        assert job.at.tzinfo is not None
    assert jobs[2].task_kwargs == {"scale": 3}
    assert queued(client) == 3


def test_unknown_task(client):
    with pytest.raises(UnknownTaskError, match=r"no task named 'nope'.*known tasks"):
        client.schedule("nope")
    with pytest.raises(UnknownTaskError, match="not a task attached"):
        client.schedule(lambda: None)
    assert queued(client) == 0


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1,), {}), ((1, 2, 3), {}), ((1, 2), {"scale": 1, "other": 2}), ((1, 2, 3), {"a": 1})],
)
def test_arguments_must_match_the_signature(client, args, kwargs):
    with pytest.raises(InvalidJobSignatureError, match="compute"):
        client.schedule("compute", *args, **kwargs)
    assert queued(client) == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1, 2}, r"args\[0\] is a set"),
        (object(), r"args\[0\] is a object"),
        (b"bytes", r"args\[0\] is a bytes"),
        (datetime.now(), r"args\[0\] is a datetime"),
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        ([1, {"deep": [2, {3}]}], r"args\[0\]\[1\]\['deep'\]\[1\] is a set"),
        ({1: "int key"}, "key 1 of type int"),
    ],
)
def test_arguments_must_be_json(client, value, message):
    with pytest.raises(SerializationError, match=message):
        client.schedule("anything", value)
    with pytest.raises(SerializationError):
        client.schedule("anything", key=value)
    assert queued(client, "spinach") == 0


def test_json_values_travel_and_tuples_arrive_as_lists(client):
    job = client.schedule("anything", "é", 1, 2.5, True, None, (1, 2), {"a": [1]}, k={"x": None})
    [fetched] = client.broker.get_jobs_from_queue("spinach", 1)
    assert fetched.task_args == ("é", 1, 2.5, True, None, [1, 2], {"a": [1]})
    assert fetched.task_kwargs == {"k": {"x": None}}
    assert fetched == job


def test_arguments_are_copied_at_schedule_time(client):
    payload = {"items": [1]}
    client.schedule("anything", payload)
    payload["items"].append(2)
    [fetched] = client.broker.get_jobs_from_queue("spinach", 1)
    assert fetched.task_args == ({"items": [1]},)


def test_schedule_at_aware_naive_and_past(client, clock):
    aware = datetime.fromtimestamp(clock.time(), tz=timezone(timedelta(hours=2))) + timedelta(
        minutes=5
    )
    job = client.schedule_at("compute", aware, 1, 2)
    assert job.status is JobStatus.WAITING
    assert job.at == aware
    assert job.at.utcoffset() == timedelta(0)

    naive = datetime.fromtimestamp(clock.time(), tz=timezone.utc).replace(tzinfo=None)
    naive_job = client.schedule_at("compute", naive + timedelta(hours=1), 1, 2)
    assert naive_job.at_timestamp == pytest.approx(clock.time() + 3600)

    past = client.schedule_at("compute", naive - timedelta(days=1), 1, 2)
    assert past.status is JobStatus.QUEUED
    assert client.broker.future_jobs_count() == 2


def test_schedule_at_needs_a_datetime(client, clock):
    with pytest.raises(TypeError, match="datetime"):
        client.schedule_at("compute", clock.time() + 10, 1, 2)
    with pytest.raises(TypeError, match="datetime"):
        Batch().schedule_at("compute", "tomorrow", 1, 2)


def test_batch_is_sent_at_once(client, clock):
    batch = Batch()
    for i in range(100):
        batch.schedule("compute", i, i)
    batch.schedule_at("compute", clock.now() + timedelta(hours=1), 0, 0)
    jobs = client.schedule_batch(batch)
    assert len(jobs) == 101
    assert queued(client) == 100
    assert client.broker.future_jobs_count() == 1
    assert [j.status for j in jobs[-2:]] == [JobStatus.QUEUED, JobStatus.WAITING]


@pytest.mark.parametrize(
    "bad",
    [
        lambda b: b.schedule("nope"),
        lambda b: b.schedule("compute", 1),
        lambda b: b.schedule("compute", 1, {1}),
    ],
)
def test_batch_with_one_bad_job_enqueues_nothing(client, bad):
    batch = Batch()
    for i in range(10):
        batch.schedule("compute", i, i)
    bad(batch)
    with pytest.raises((UnknownTaskError, InvalidJobSignatureError, SerializationError)):
        client.schedule_batch(batch)
    assert queued(client) == 0
    assert client.broker.future_jobs_count() == 0


def test_batch_cannot_be_reused(client):
    batch = Batch()
    batch.schedule("compute", 1, 2)
    client.schedule_batch(batch)
    with pytest.raises(InvalidTaskError, match="already scheduled"):
        client.schedule_batch(batch)
    with pytest.raises(InvalidTaskError, match="already scheduled"):
        batch.schedule("compute", 1, 2)
    assert queued(client) == 1


def test_failed_batch_can_be_retried(client):
    batch = Batch()
    batch.schedule("nope")
    with pytest.raises(UnknownTaskError):
        client.schedule_batch(batch)
    assert not batch._scheduled


def test_empty_batch(client):
    assert client.schedule_batch(Batch()) == []


def test_tasks_schedule_batch(clock):
    spin = Engine(MemoryBroker(clock=clock))
    tasks = Tasks()
    tasks.add(lambda: None, name="noop")
    spin.attach_tasks(tasks)
    batch = Batch()
    batch.schedule("noop")
    assert len(tasks.schedule_batch(batch)) == 1


def test_function_registered_twice_must_be_scheduled_by_name():
    spin = Engine(MemoryBroker())

    def work():
        pass

    spin.task(work, name="a")
    spin.task(work, name="b")
    with pytest.raises(UnknownTaskError, match="several task names"):
        spin.schedule(work)
    spin.schedule("a")


@pytest.mark.parametrize("namespace", ["", "with space", "{x}", "_private", 42])
def test_invalid_namespace(namespace):
    with pytest.raises(NamespaceError):
        Engine(MemoryBroker(), namespace=namespace)


def test_broker_belongs_to_one_namespace():
    broker = MemoryBroker()
    Engine(broker, namespace="a")
    with pytest.raises(NamespaceError, match="already used"):
        Engine(broker, namespace="b")


def test_arguments_that_contain_themselves_are_refused(client):
    looping = []
    looping.append(looping)
    with pytest.raises(SerializationError, match="nest too deeply"):
        client.schedule("anything", looping)
    assert queued(client, "spinach") == 0


def test_signature_verdicts_are_remembered_per_shape(client):
    for _ in range(3):
        with pytest.raises(InvalidJobSignatureError):
            client.schedule("compute", 1)
        client.schedule("compute", 1, 2, scale=3)
    assert queued(client) == 3
