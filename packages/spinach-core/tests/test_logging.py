"""Log lines: job ids and task names, never job arguments at INFO or above."""

from __future__ import annotations

import logging

from spinach import AbortException, Batch, RetryException

SECRET = "s3cr3t-personal-data"


def test_job_arguments_are_never_logged_at_info_or_above(spin, clock, recorder, caplog):
    @spin.task(name="ok")
    def ok(value, *, other=None):
        pass

    @spin.task(name="retried", max_retries=1)
    def retried(value, *, other=None):
        raise RetryException("try later")

    @spin.task(name="crashes", max_retries=1)
    def crashes(value, *, other=None):
        raise ValueError("boom")

    @spin.task(name="aborted", max_retries=3)
    def aborted(value, *, other=None):
        raise AbortException("no")

    batch = Batch()
    for task in ("ok", "retried", "crashes", "aborted"):
        batch.schedule(task, SECRET, other={"email": SECRET})
    spin.schedule_batch(batch)
    spin.broker.inject_raw_payload(
        "spinach",
        '{"id":"' + "2" * 32 + '","task_name":"unknown","queue":"spinach","at":0,'
        f'"max_retries":0,"retries":0,"args":["{SECRET}"],"kwargs":{{}}}}',
    )
    with caplog.at_level(logging.DEBUG, logger="spinach"):
        spin.start_workers(number=2, block=False)
        recorder.wait_count("job_finished", 4)
        recorder.wait_for(lambda: recorder.count("job_failed") == 2)  # aborted, unknown
        assert clock.wait_for_sleepers(1)
        clock.advance(60)  # the two retries are due
        recorder.wait_count("job_finished", 6)
        spin.stop_workers()
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert records, "the outcomes were logged"
    for record in records:
        text = record.getMessage() + (record.exc_text or "")
        assert SECRET not in text, f"{record.name}: {text}"
        assert hasattr(record, "spinach_job_id") or record.name != "spinach.job"
    debug = [r for r in caplog.records if r.levelno < logging.INFO]
    assert all(SECRET not in r.getMessage() for r in debug)  # not even at DEBUG today
