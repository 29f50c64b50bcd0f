"""``job_failed`` without ``job_started``: lost jobs and unknown tasks are reported too."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
import sentry_sdk

from spinach import Engine, ManualClock, MemoryBroker, signals
from spinach.arbiter import UNKNOWN_TASK_GRACE
from spinach.brokers.memory import MemoryStore
from spinach.contrib.sentry_sdk_spinach import SpinachIntegration
from spinach.exc import JobLostError
from spinach.job import Job

from .helpers import exception_of, work


def test_job_lost_with_a_dead_worker_is_reported_once(
    sentry_init, namespace, engines, let_time_pass
):
    transport = sentry_init()  # the logging integration is on: the arbiter logs the loss
    store, clock = MemoryStore(), ManualClock()

    def broker():
        return MemoryBroker(store=store, clock=clock, broker_dead_threshold_seconds=10)

    dead = Engine(broker(), namespace=namespace)

    @dead.task(name="fragile", max_retries=0)
    def fragile():
        pass

    job = dead.schedule("fragile")
    dead.broker.start()
    assert dead.broker.get_jobs_from_queue("spinach", 1) == [job]  # now "running" there

    live = Engine(broker(), namespace=namespace)
    engines.append(live)
    live.start_workers(number=1, block=False)
    # The dead worker never heartbeats again; the live one does, and recovers its job.
    let_time_pass(clock, 14, step=2)
    transport.wait_for("event", 1)
    live.stop_workers()

    [event] = transport.events
    exc = exception_of(event)
    assert exc["type"] == "JobLostError"
    assert exc["mechanism"] == {"type": "spinach", "handled": False}
    assert event["tags"]["spinach.task"] == "fragile"
    assert event["tags"]["spinach.job_id"] == str(job.id)
    assert event["tags"]["spinach.outcome"] == "failed"
    assert transport.transactions == []


def test_lost_job_log_of_other_loggers_is_still_reported(sentry_init, namespace):
    # Only the arbiter's record about a JobLostError the integration reports is
    # dropped: the same exception logged by the application is its business.
    transport = sentry_init()
    logging.getLogger("tests.sentry.app").error("%s", JobLostError("seen by the app"))
    assert len(transport.events) == 1


def test_unknown_task_is_reported_once_nobody_knew_it_for_the_grace(
    sentry_init, namespace, engines, monkeypatch
):
    monkeypatch.setattr("spinach.arbiter.UNKNOWN_TASK_GRACE", -1.0)  # no grace: fails at once
    transport = sentry_init()
    store = MemoryStore()
    client = Engine(MemoryBroker(store=store), namespace=namespace)

    @client.task(name="only_the_client_knows")
    def only_the_client_knows():
        pass

    # During a deploy a job of a task its worker does not know is handed
    # back, not failed; one that nobody knew for an hour fails.
    long_ago = datetime.now(timezone.utc) - timedelta(seconds=UNKNOWN_TASK_GRACE + 60)
    job = client.schedule_at("only_the_client_knows", long_ago)
    worker = Engine(MemoryBroker(store=store), namespace=namespace)
    engines.append(worker)
    work(worker)

    [event] = transport.events
    assert exception_of(event)["type"] == "UnknownTaskError"
    assert event["tags"]["spinach.job_id"] == str(job.id)
    assert event["tags"]["spinach.task"] == "only_the_client_knows"
    assert transport.transactions == []


def test_job_failed_without_job_started_leaves_no_scope_open(sentry_init, namespace):
    transport = sentry_init()
    clock = ManualClock()
    job = Job("ghost", "spinach", clock.now(), 0)
    before = sentry_sdk.get_isolation_scope()
    signals.job_failed.send(namespace, job=job, err=JobLostError("gone"))
    signals.job_finished.send(namespace, job=job)  # unknown job: ignored

    assert sentry_sdk.get_isolation_scope() is before
    assert "spinach.task" not in before._tags
    [event] = transport.events
    assert event["tags"]["spinach.task"] == "ghost"


def test_integration_identity_and_options():
    assert SpinachIntegration.identifier == "spinach"
    assert SpinachIntegration().send_retries is False
    assert SpinachIntegration(send_retries=True).send_retries is True
    assert repr(SpinachIntegration(True)) == "SpinachIntegration(send_retries=True)"
    with pytest.raises(TypeError, match="send_retries must be a bool"):
        SpinachIntegration(send_retries="yes")  # type: ignore[arg-type]
    # The options about job data follow the client unless set.
    default = SpinachIntegration()
    assert default.include_local_variables is None
    assert default.send_job_arguments is None
    explicit = SpinachIntegration(include_local_variables=True, send_job_arguments=False)
    assert explicit.include_local_variables is True
    assert explicit.send_job_arguments is False
    assert repr(explicit) == (
        "SpinachIntegration(send_retries=False, include_local_variables=True, "
        "send_job_arguments=False)"
    )
    for name in ("include_local_variables", "send_job_arguments"):
        with pytest.raises(TypeError, match=f"{name} must be a bool or None, not int"):
            SpinachIntegration(**{name: 1})
