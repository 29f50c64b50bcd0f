"""Performance: one ``queue.task.spinach`` transaction per run of a job."""

from __future__ import annotations

import warnings

import pytest
import sentry_sdk

from spinach import AbortException, RetryException

from .helpers import KINDS, by_task, define, work


def test_one_transaction_per_job_named_after_its_task(sentry_init, real_spin):
    transport = sentry_init()

    @real_spin.task(name="adds")
    def adds(a, b):
        return a + b

    @real_spin.task(name="crashes")
    def crashes():
        raise ValueError("no")

    @real_spin.task(name="aborts", max_retries=3)
    def aborts():
        raise AbortException("stop here")

    jobs = [real_spin.schedule("adds", 1, 2) for _ in range(3)]
    failed = real_spin.schedule("crashes")
    real_spin.schedule("aborts")
    work(real_spin)

    transactions = transport.transactions
    assert len(transactions) == 5
    succeeded = by_task(transactions, "adds")
    assert {t["tags"]["spinach.job_id"] for t in succeeded} == {str(j.id) for j in jobs}
    for transaction in transactions:
        trace = transaction["contexts"]["trace"]
        assert transaction["type"] == "transaction"
        assert transaction["transaction"] == transaction["tags"]["spinach.task"]
        assert transaction["transaction_info"] == {"source": "task"}
        assert trace["op"] == "queue.task.spinach"
        assert trace["origin"] == "auto.queue.spinach"
    for transaction in succeeded:
        assert transaction["contexts"]["trace"]["status"] == "ok"
        assert transaction["tags"]["spinach.outcome"] == "succeeded"
    [crashed] = by_task(transactions, "crashes")
    assert crashed["contexts"]["trace"]["status"] == "internal_error"
    assert crashed["tags"]["spinach.outcome"] == "failed"
    assert crashed["tags"]["spinach.job_id"] == str(failed.id)
    [aborted] = by_task(transactions, "aborts")
    assert aborted["contexts"]["trace"]["status"] == "internal_error"
    assert aborted["tags"]["spinach.outcome"] == "failed"
    # Queue monitoring data, with Sentry's messaging conventions.
    data = crashed["contexts"]["trace"]["data"]
    assert data["messaging.system"] == "spinach"
    assert data["messaging.message.id"] == str(failed.id)
    assert data["messaging.destination.name"] == "spinach"
    assert data["messaging.message.retry.count"] == 0
    # Each job has its own trace.
    assert len({t["contexts"]["trace"]["trace_id"] for t in transactions}) == 5


def test_each_attempt_is_a_transaction_with_its_outcome(sentry_init, spin, clock):
    transport = sentry_init()
    attempts = []

    @spin.task(name="flaky", max_retries=2)
    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first attempt crashes")
        if len(attempts) == 2:
            raise RetryException("second attempt asks for a retry", at=clock.now())

    spin.schedule(flaky)
    spin.start_workers(number=1, block=False)
    transport.wait_for("transaction", 1)
    clock.advance(3600)
    transport.wait_for("transaction", 3)
    spin.stop_workers()

    first, second, third = transport.transactions
    assert [t["tags"]["spinach.outcome"] for t in (first, second, third)] == [
        "retry",
        "retry",
        "succeeded",
    ]
    # An exception that makes the job retry is an error of that attempt; a
    # RetryException is the task asking for a retry, not an error.
    assert first["contexts"]["trace"]["status"] == "internal_error"
    assert second["contexts"]["trace"]["status"] == "ok"
    assert third["contexts"]["trace"]["status"] == "ok"
    assert [t["tags"]["spinach.retries"] for t in (first, second, third)] == ["0", "1", "2"]
    assert transport.events == []


@pytest.mark.parametrize(("workers_class", "is_async"), KINDS)
def test_spans_of_the_task_belong_to_the_job_transaction(
    sentry_init, real_spin, workers_class, is_async
):
    transport = sentry_init()

    def query():
        with sentry_sdk.start_span(op="db.query", name="SELECT 1"):
            pass

    define(real_spin, "queries", query, is_async)
    real_spin.schedule("queries")
    real_spin.schedule("queries")
    work(real_spin, workers_class)

    transactions = transport.transactions
    assert len(transactions) == 2
    for transaction in transactions:
        [span] = transaction["spans"]
        assert span["op"] == "db.query"
        assert span["description"] == "SELECT 1"
        assert span["trace_id"] == transaction["contexts"]["trace"]["trace_id"]
        assert span["parent_span_id"] == transaction["contexts"]["trace"]["span_id"]


def test_traces_sampler_sees_the_job(sentry_init, real_spin):
    seen = []

    def traces_sampler(context):
        job = context.get("spinach_job")
        if job is not None:
            seen.append(job)
            return 0.0 if job["task_name"] == "noisy" else 1.0
        return 0.0

    transport = sentry_init(traces_sample_rate=None, traces_sampler=traces_sampler)

    @real_spin.task(name="noisy")
    def noisy(x):
        pass

    @real_spin.task(name="important")
    def important():
        pass

    real_spin.schedule("noisy", 7)
    real_spin.schedule("important")
    work(real_spin)

    assert sorted(job["task_name"] for job in seen) == ["important", "noisy"]
    [noisy_job] = [job for job in seen if job["task_name"] == "noisy"]
    assert noisy_job["args"] == (7,)
    assert noisy_job["queue"] == "spinach"
    assert [t["transaction"] for t in transport.transactions] == ["important"]


def test_no_transaction_without_tracing(sentry_init, real_spin):
    transport = sentry_init(traces_sample_rate=None)

    @real_spin.task(name="crashes")
    def crashes():
        raise ValueError("no")

    real_spin.schedule("crashes")
    work(real_spin)

    assert transport.transactions == []
    [event] = transport.events  # errors are reported all the same
    assert event["tags"]["spinach.task"] == "crashes"


def test_span_streaming_mode_still_reports_errors_without_warnings(sentry_init, real_spin):
    pytest.importorskip("sentry_sdk.traces", reason="sentry-sdk without span streaming")
    transport = sentry_init(trace_lifecycle="stream")

    @real_spin.task(name="crashes")
    def crashes():
        raise ValueError("no")

    real_spin.schedule("crashes")
    # A warning turned into an error in a receiver is logged on spinach.signals,
    # which the logging integration reports: a single event proves there was none.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        work(real_spin)

    [event] = transport.events
    assert event["tags"]["spinach.task"] == "crashes"
    assert transport.transactions == []
