"""Jobs of tasks a worker does not know: a rolling deploy must not drop them."""

from __future__ import annotations

import logging

from spinach.arbiter import POLITE_DELAY, UNKNOWN_TASK_GRACE
from spinach.exc import UnknownTaskError


def inject(spin, task_name, at, max_retries=0, retries=0):
    """A job enqueued by another deployment, which knows a task this one lacks."""
    spin.broker.inject_raw_payload(
        "spinach",
        f'{{"id":"0123456789abcdef0123456789abcdef","task_name":"{task_name}",'
        f'"queue":"spinach","at":{at!r},"max_retries":{max_retries},"retries":{retries},'
        '"args":[],"kwargs":{}}',
    )


def test_job_of_unknown_task_is_handed_back_until_a_worker_knows_it(spin, clock, recorder, caplog):
    spin.task(lambda: None, name="known")
    inject(spin, "elsewhere", clock.time())
    with caplog.at_level(logging.WARNING, logger="spinach.job"):
        spin.start_workers(number=2, block=False)
        # Handed back, due again in a second: the arbiter sleeps until then.
        assert clock.wait_for_sleepers(1, deadline=clock.time() + 1.0 + POLITE_DELAY)
    assert spin.broker.future_jobs_count() == 1
    assert spin.broker.is_queue_empty("spinach")
    assert recorder.count("job_failed") == 0
    assert "'elsewhere', which this worker does not know" in caplog.text

    # The new version of the code arrives: the job runs, once, unharmed.
    spin.task(lambda: None, name="elsewhere")
    clock.advance(1.0 + POLITE_DELAY)
    recorder.wait_count("job_finished", 1, task_name="elsewhere")
    [job] = recorder.jobs("job_started", "elsewhere")
    assert job.retries == 0  # a hand-back is not an attempt
    assert recorder.count("job_failed") == 0


def test_a_job_dated_long_ago_is_handed_back_not_failed(spin, clock, recorder):
    """The grace counts from the first hand-back here, not from the job's date."""
    spin.task(lambda: None, name="known")
    inject(spin, "elsewhere", clock.time() - 2 * UNKNOWN_TASK_GRACE)
    spin.start_workers(number=1, block=False)
    assert clock.wait_for_sleepers(1, deadline=clock.time() + 1.0 + POLITE_DELAY)
    assert spin.broker.future_jobs_count() == 1
    assert recorder.count("job_failed") == 0


def test_hand_backs_space_out_as_the_job_stays_unknown(spin, clock, recorder, caplog):
    spin.task(lambda: None, name="known")
    inject(spin, "elsewhere", clock.time())

    def hand_backs() -> int:
        return sum(
            r.getMessage().startswith(("Handed back job", "Job 0123")) for r in caplog.records
        )

    with caplog.at_level(logging.DEBUG, logger="spinach.job"):
        spin.start_workers(number=1, block=False)
        assert clock.wait_for_sleepers(1)
        early = hand_backs()
        for _ in range(60):  # the first minute: back every second or few
            clock.advance(1)
            assert clock.wait_for_sleepers(1)
        first_minute = hand_backs() - early
        for _ in range(60):  # ten minutes later: once a minute or so
            clock.advance(10)
            assert clock.wait_for_sleepers(1)
        before = hand_backs()
        for _ in range(30):
            clock.advance(10)
            assert clock.wait_for_sleepers(1)
        five_minutes = hand_backs() - before
    assert first_minute >= 10
    assert 3 <= five_minutes <= 8
    assert recorder.count("job_failed") == 0


def test_job_unknown_here_for_longer_than_the_grace_fails_clearly(
    spin, clock, recorder, caplog, monkeypatch, let_time_pass
):
    monkeypatch.setattr("spinach.arbiter.UNKNOWN_TASK_GRACE", 30.0)
    spin.task(lambda: None, name="known")
    inject(spin, "elsewhere", clock.time())
    spin.start_workers(number=1, block=False)
    let_time_pass(clock, 40, step=2)
    recorder.wait_count("job_failed", 1)
    [error] = recorder.errors("job_failed")
    assert isinstance(error, UnknownTaskError)
    assert "'elsewhere', which no worker serving queue 'spinach' has known" in caplog.text
    assert recorder.count("job_started") == 0


def test_job_unknown_for_long_keeps_its_retries(spin, clock, recorder, monkeypatch, let_time_pass):
    monkeypatch.setattr("spinach.arbiter.UNKNOWN_TASK_GRACE", 30.0)
    spin.task(lambda: None, name="known")
    inject(spin, "elsewhere", clock.time(), max_retries=2)
    spin.start_workers(number=1, block=False)
    let_time_pass(clock, 40, step=2)
    recorder.wait_count("job_schedule_retry", 1)
    [job] = recorder.jobs("job_schedule_retry")
    assert job.retries == 1
    assert isinstance(recorder.errors("job_schedule_retry")[0], UnknownTaskError)
    assert recorder.count("job_failed") == 0
