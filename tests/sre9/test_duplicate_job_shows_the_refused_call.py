"""The Job returned for a duplicate has the live job's id but the refused job's data.

Failure: when ``schedule``/``schedule_at`` finds the key held, the broker
(``MemoryBroker._holds_key``; ``RedisBroker.enqueue_jobs`` with the holders
enqueue.lua returns) only swaps the id and status into the Job it was given
(``job._id_hex = holder; job.status = ...; job.duplicate = True``).  Its
``at``, ``task_args``, ``task_kwargs``, ``queue`` and ``max_retries`` stay
those of the call that was refused.  So the object the caller gets says
"job <id of the live job>, waiting, due in one hour, for arguments X" when
job <id> is due in ten days with arguments Y.

Examples: ``schedule_at(report, in_1_hour, 7)`` while a report for 7 is
waiting for next week returns a Job whose ``at`` is in one hour: the caller
(and its log line, its UI) believes the report comes in an hour; it comes
next week.  With ``unique=lambda user, reason: f"user:{user}"``, the Job
for the live ``sync(7, "signup")`` shows ``task_args == (7, "profile edit")``.

Impact: wrong data exposed about a job: decisions taken on ``job.at`` or
the arguments (retry later, tell the user when, audit logs) are about work
that will not happen as described; the docs promise a Job "standing for the
live one".

Suggested fix: return the live job itself (``get_job(holder)`` after the
enqueue, or the record's payload read by the same script: it has it at
hand) or, at least, clear/replace the refused job's fields with the holder's.
"""

from __future__ import annotations

from datetime import timedelta

from spinach.job import JobStatus
from spinach.utils import from_timestamp


def test_a_duplicate_shows_when_and_with_what_the_live_job_runs(engine_on, clock):
    engine = engine_on()
    engine.task(lambda user: None, name="report", queue="q", unique=True)
    engine.task(
        lambda user, reason: None, name="sync", queue="q",
        unique=lambda user, reason: f"user:{user}",
    )  # fmt: skip
    now = from_timestamp(clock.time())

    live = engine.schedule_at("report", now + timedelta(days=10), 7)
    asked = engine.schedule_at("report", now + timedelta(hours=1), 7)
    assert asked.duplicate and asked.id == live.id and asked.status is JobStatus.WAITING
    record = engine.get_job(asked.id)
    assert record.at == live.at
    assert asked.at == record.at, (
        f"the Job for live job {asked.id} says it is due at {asked.at}; it is due at {record.at}"
    )


def test_a_duplicate_shows_the_live_jobs_arguments(engine_on):
    engine = engine_on()
    engine.task(
        lambda user, reason: None, name="sync", queue="q",
        unique=lambda user, reason: f"user:{user}",
    )  # fmt: skip
    live = engine.schedule("sync", 7, "signup")
    asked = engine.schedule("sync", 7, "profile edit")
    assert asked.duplicate and asked.id == live.id
    assert asked.task_args == engine.get_job(live.id).task_args, (
        f"the Job for live job {asked.id} shows arguments {asked.task_args}; "
        f"the live job runs with {engine.get_job(live.id).task_args}"
    )
