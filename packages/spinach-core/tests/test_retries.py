"""Retries: at most once, exponential backoff, RetryException and AbortException."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from spinach import AbortException, JobStatus, RetryException


def start(spin):
    spin.start_workers(number=2, block=False)


def test_max_retries_zero_runs_once(spin, recorder):
    calls = []

    @spin.task(name="once")
    def once():
        calls.append(1)
        raise RuntimeError("boom")

    spin.schedule(once)
    start(spin)
    recorder.wait_count("job_finished", 1)
    [job] = recorder.jobs("job_failed")
    assert job.status is JobStatus.FAILED
    assert isinstance(recorder.errors("job_failed")[0], RuntimeError)
    assert recorder.count("job_schedule_retry") == 0
    assert calls == [1]


def test_retries_follow_exponential_backoff_then_fail(spin, clock, recorder):
    starts = []

    @spin.task(name="flaky", max_retries=2)
    def flaky():
        starts.append(clock.time())
        raise ValueError("still broken")

    spin.schedule(flaky)
    start(spin)
    for attempt in (1, 2):
        recorder.wait_count("job_schedule_retry", attempt)
        job = recorder.jobs("job_schedule_retry")[-1]
        assert job.retries == attempt
        assert job.status is JobStatus.WAITING
        delay = job.at_timestamp - starts[-1]
        # Within the step of exponential_backoff: 3 to 6 s, then 6 to 12 s.
        assert 3 * 2**attempt / 2 <= delay <= 3 * 2**attempt
        # The worker now sleeps until exactly that date, and not a moment less.
        assert clock.wait_for_sleepers(1, deadline=job.at_timestamp)
        clock.advance(delay - 0.001)
        assert clock.wait_for_sleepers(1)
        assert len(starts) == attempt
        clock.advance(0.001)
        recorder.wait_count("job_started", attempt + 1)
    recorder.wait_count("job_failed", 1)
    assert len(starts) == 3
    assert isinstance(recorder.errors("job_failed")[0], ValueError)
    assert recorder.jobs("job_failed")[0].retries == 2


def test_retry_exception_sets_the_date(spin, clock, recorder):
    starts = []
    when = datetime.fromtimestamp(clock.time(), tz=timezone.utc) + timedelta(minutes=10)

    @spin.task(name="rate_limited", max_retries=10)
    def rate_limited():
        starts.append(clock.time())
        if len(starts) == 1:
            raise RetryException("Should retry in 10 minutes", at=when)

    spin.schedule(rate_limited)
    start(spin)
    recorder.wait_count("job_schedule_retry", 1)
    [job] = recorder.jobs("job_schedule_retry")
    assert job.at == when
    assert str(recorder.errors("job_schedule_retry")[0]) == "Should retry in 10 minutes"
    assert clock.wait_for_sleepers(1, deadline=when.timestamp())
    clock.advance(599.999)
    assert clock.wait_for_sleepers(1)
    assert len(starts) == 1
    clock.advance(0.001)
    recorder.wait_count("job_finished", 2)
    assert starts[1] == when.timestamp()


def test_retry_exception_with_naive_date_is_utc(spin, clock, recorder):
    naive = datetime.fromtimestamp(clock.time() + 60, tz=timezone.utc).replace(tzinfo=None)

    @spin.task(name="naive", max_retries=1)
    def naive_task():
        raise RetryException("later", at=naive)

    spin.schedule(naive_task)
    start(spin)
    recorder.wait_count("job_schedule_retry", 1)
    assert recorder.jobs("job_schedule_retry")[0].at_timestamp == pytest.approx(clock.time() + 60)


def test_retry_exception_in_the_past_requeues_at_once(spin, clock, recorder):
    calls = []

    @spin.task(name="again", max_retries=1)
    def again():
        calls.append(1)
        if len(calls) == 1:
            raise RetryException("now", at=datetime(2000, 1, 1, tzinfo=timezone.utc))

    spin.schedule(again)
    start(spin)
    recorder.wait_count("job_finished", 2)
    assert recorder.jobs("job_schedule_retry")[0].status is JobStatus.QUEUED


def test_retry_exception_still_obeys_max_retries(spin, recorder):
    @spin.task(name="never_retried")
    def never_retried():
        raise RetryException("please")

    spin.schedule(never_retried)
    start(spin)
    recorder.wait_count("job_failed", 1)
    assert recorder.count("job_schedule_retry") == 0
    assert isinstance(recorder.errors("job_failed")[0], RetryException)


def test_abort_exception_stops_retries(spin, recorder):
    calls = []

    @spin.task(name="aborted", max_retries=10)
    def aborted():
        calls.append(1)
        raise AbortException("give up")

    spin.schedule(aborted)
    start(spin)
    recorder.wait_count("job_failed", 1)
    assert calls == [1]
    assert recorder.count("job_schedule_retry") == 0
    assert recorder.jobs("job_failed")[0].status is JobStatus.FAILED
