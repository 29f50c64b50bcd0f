"""One ``spinach.task`` span per run of a job, with its errors."""

from __future__ import annotations

import pytest
from ddtrace.trace import tracer

from spinach import AbortException, RetryException

from .helpers import KINDS, define, work


def crash(*args, **kwargs):
    raise ValueError("the crash of the job")


@pytest.mark.parametrize(("workers_class", "is_async"), KINDS)
def test_one_span_per_job_with_its_tags(traces, register, real_spin, workers_class, is_async):
    register()

    def adds(a, b):
        with tracer.trace("inner.work", resource="adding"):
            return a + b

    define(real_spin, "adds", adds, is_async, queue="jobs", max_retries=3)
    jobs = [real_spin.schedule("adds", i, 1) for i in range(3)]
    work(real_spin, workers_class, queue="jobs")

    spans = traces.job_spans()
    assert len(spans) == 3
    assert {span.get_tag("job.id") for span in spans} == {str(job.id) for job in jobs}
    for span in spans:
        assert span.name == "spinach.task"
        assert span.resource == "adds"
        assert span.service == "spinach"
        assert span.span_type == "worker"
        assert span.get_tag("span.kind") == "consumer"
        assert span.get_tag("component") == "spinach"
        assert span.get_tag("queue.name") == "jobs"
        assert span.get_tag("spinach.namespace") == real_spin.namespace
        assert span.get_tag("spinach.outcome") == "succeeded"
        assert span.get_metric("job.retries") == 0
        assert span.get_metric("job.max_retries") == 3
        assert span.error == 0
        assert span.parent_id is None  # a job starts its own trace
    # The span is active while the task runs: the task's spans are its children.
    inner = [span for span in traces.spans if span.name == "inner.work"]
    assert len(inner) == 3
    by_id = {span.span_id: span for span in spans}
    for span in inner:
        assert span.parent_id in by_id
        assert span.trace_id == by_id[span.parent_id].trace_id
    assert len({span.parent_id for span in inner}) == 3


@pytest.mark.parametrize(("workers_class", "is_async"), KINDS)
def test_failure_is_recorded_with_its_traceback(
    traces, register, real_spin, workers_class, is_async
):
    register()
    define(real_spin, "crashes", crash, is_async)
    real_spin.schedule("crashes")
    work(real_spin, workers_class)

    [span] = traces.job_spans()
    assert span.error == 1
    assert span.get_tag("error.type") == "builtins.ValueError"
    assert span.get_tag("error.message") == "the crash of the job"
    stack = span.get_tag("error.stack")
    assert "Traceback (most recent call last)" in stack
    assert "in crash" in stack
    assert 'raise ValueError("the crash of the job")' in stack
    assert span.get_tag("spinach.outcome") == "failed"


def test_each_attempt_is_a_span_with_its_outcome(traces, register, spin, clock):
    register()
    attempts = []

    @spin.task(name="flaky", max_retries=3)
    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first attempt crashes")
        if len(attempts) == 2:
            raise RetryException("second attempt asks for a retry", at=clock.now())
        if len(attempts) == 3:
            raise AbortException("third attempt gives up")

    spin.schedule(flaky)
    spin.start_workers(number=1, block=False)
    traces.wait_for_job_spans(1)
    clock.advance(3600)
    traces.wait_for_job_spans(3)
    spin.stop_workers()

    first, second, third = traces.job_spans("flaky")
    assert [s.get_tag("spinach.outcome") for s in (first, second, third)] == [
        "retry",
        "retry",
        "failed",
    ]
    assert [s.get_metric("job.retries") for s in (first, second, third)] == [0, 1, 2]
    # An exception that makes the job retry is an error of that attempt...
    assert first.error == 1
    assert first.get_tag("error.type") == "builtins.ValueError"
    # ...a RetryException is the task asking for a retry, not an error...
    assert second.error == 0
    assert second.get_tag("error.type") is None
    # ...and a job that fails is an error, whatever made it fail.
    assert third.error == 1
    assert third.get_tag("error.type") == "spinach.exc.AbortException"
    assert third.get_tag("error.message") == "third attempt gives up"
    assert len(attempts) == 3


def test_retry_exception_out_of_retries_is_an_error(traces, register, real_spin):
    register()

    @real_spin.task(name="never_ready", max_retries=0)
    def never_ready():
        raise RetryException("not ready")

    real_spin.schedule("never_ready")
    work(real_spin)

    [span] = traces.job_spans()
    assert span.error == 1
    assert span.get_tag("error.type") == "spinach.exc.RetryException"
    assert span.get_tag("spinach.outcome") == "failed"
