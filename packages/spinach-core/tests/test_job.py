"""Jobs and their payloads."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from spinach import Job, JobStatus
from spinach.exc import SerializationError


def make():
    at = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    return Job("task", "queue", at, 3, (1, "a"), {"k": [1]}, retries=1)


def test_status_values_follow_the_spec():
    assert [(s.name, s.value) for s in JobStatus] == [
        ("NOT_SET", 0),
        ("WAITING", 1),
        ("QUEUED", 2),
        ("RUNNING", 3),
        ("SUCCEEDED", 4),
        ("FAILED", 5),
        ("CANCELLED", 6),  # an extension: the spec's values are unchanged
    ]
    assert JobStatus.SUCCEDED is JobStatus.SUCCEEDED  # spelling of the original docs


def test_new_job_fields():
    job = make()
    assert isinstance(job.id, uuid.UUID)
    assert job.status is JobStatus.NOT_SET
    assert (job.task_name, job.queue, job.max_retries, job.retries) == ("task", "queue", 3, 1)
    assert job.task_args == (1, "a") and job.task_kwargs == {"k": [1]}
    assert job.retryable
    assert repr(job) == f"<Job task NOT_SET {job.id}>"


def test_payload_round_trip_and_id_first():
    job = make()
    payload = job.serialize()
    assert payload.startswith('{"id":"' + job.id.hex + '"')
    assert len(job.id.hex) == 32
    again = Job.deserialize(payload, JobStatus.QUEUED)
    assert again == job and again.status is JobStatus.QUEUED
    assert again.at == job.at and again.at.tzinfo is not None
    assert (again.task_args, again.task_kwargs, again.retries) == ((1, "a"), {"k": [1]}, 1)
    assert Job.deserialize(payload.encode()) == job


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xff\xfe",
        b"[1, 2]",
        b"null",
        b'{"id": "x"}',
        b'{"truncated": ',
        json.dumps(
            {
                "id": "nothex",
                "task_name": "t",
                "queue": "q",
                "at": 0,
                "max_retries": 0,
                "retries": 0,
                "args": [],
                "kwargs": {},
            }
        ).encode(),
        json.dumps(
            {
                "id": "0" * 32,
                "task_name": 5,
                "queue": "q",
                "at": 0,
                "max_retries": 0,
                "retries": 0,
                "args": [],
                "kwargs": {},
            }
        ).encode(),
        json.dumps(
            {
                "id": "0" * 32,
                "task_name": "t",
                "queue": "q",
                "at": "soon",
                "max_retries": 0,
                "retries": 0,
                "args": [],
                "kwargs": {},
            }
        ).encode(),
        json.dumps(
            {
                "id": "0" * 32,
                "task_name": "t",
                "queue": "q",
                "at": 1e300,
                "max_retries": 0,
                "retries": 0,
                "args": [],
                "kwargs": {},
            }
        ).encode(),
        json.dumps(
            {
                "id": "0" * 32,
                "task_name": "t",
                "queue": "q",
                "at": 0,
                "max_retries": True,
                "retries": 0,
                "args": [],
                "kwargs": {},
            }
        ).encode(),
        json.dumps(
            {
                "id": "0" * 32,
                "task_name": "t",
                "queue": "q",
                "at": 0,
                "max_retries": 0,
                "retries": 0,
                "args": {"a": 1},
                "kwargs": {},
            }
        ).encode(),
    ],
)
def test_foreign_or_broken_payloads_raise_serialization_error(payload):
    with pytest.raises(SerializationError):
        Job.deserialize(payload)


def test_a_payload_with_an_empty_task_name_is_refused():
    # No task can be named "": such a job would be handed back for ever
    # instead of being set aside (found by hypothesis in test_script_robustness).
    payload = (
        '{"id":"' + "0" * 32 + '","task_name":"","queue":"q","at":0.0,"max_retries":0,'
        '"retries":0,"args":[],"kwargs":{}}'
    )
    with pytest.raises(SerializationError, match="task name is empty"):
        Job.deserialize(payload)


def test_jobs_compare_by_id():
    job = make()
    assert job == Job.deserialize(job.serialize())
    assert job != make()
    assert len({job, Job.deserialize(job.serialize())}) == 1
