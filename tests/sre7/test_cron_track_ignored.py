"""``track=True`` (and ``store_result``) on a cron task is silently ignored.

Failure: ``CronPlanner.plan`` (spinach/cron.py) builds each tick's job as
``Job(task.name, task.queue, at, task.max_retries, id=...)`` and hands it to
``plan_cron_runs``, bypassing ``Engine._make_job``, which is what sets
``job.track`` (from ``track=True`` or ``Engine(track_jobs=True)``) and
``job.result_ttl``.  The tick is stored without a record.  Nothing refuses
``track=True`` together with ``cron=``, and neither docs/tasks.md "Cron
tasks" nor docs/following-jobs.md says ticks are not tracked.

Impact: a planned tick cannot be looked up (``Engine.get_job`` returns
``None``) nor cancelled (``Engine.cancel`` raises ``JobNotFoundError``),
although its id is known in advance (``periodic_job_id``): an operator who
must stop tonight's 03:00 run (a bad deploy, a migration) cannot, and a
dashboard built on job records never shows cron runs, nor their failures'
``error``.  ``store_result=True`` keeps nothing either.

Today: with ``Engine(track_jobs=True)`` and ``track=True`` on the task,
``get_job`` of the tick just planned returns ``None`` and ``cancel`` raises
``JobNotFoundError``.

Suggested fix: give the planner the Engine's job factory (or its
``track``/``result_ttl`` settings) so that ticks carry ``track`` and
``result_ttl`` like any job of the task; ``plan_cron.lua`` and the
MemoryBroker then write the record (``record_stored`` with status
WAITING) when they keep a tick.  Or refuse ``track``/``store_result`` with
``cron`` at definition and document it.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from spinach import Engine
from spinach.brokers.memory import MemoryBroker
from spinach.exc import JobNotFoundError
from spinach.job import JobStatus, cron_job_id

pytest.importorskip("cronsim")


def test_a_planned_tick_of_a_tracked_cron_task_can_be_looked_up_and_cancelled(
    clock, namespace, wait_until
):
    clock.advance(datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc).timestamp() - clock.time())
    spin = Engine(MemoryBroker(clock=clock), namespace=namespace, track_jobs=True)

    @spin.task(name="nightly", cron="0 3 * * *", track=True)
    def nightly() -> None:
        pass

    # The arbiter of a worker plans the tick as soon as it starts.
    spin.start_workers(number=1, block=False)
    try:
        wait_until(lambda: spin.broker.future_jobs_count() == 1, what="the tick planned")
    finally:
        spin.stop_workers()
    tick = datetime(2026, 6, 2, 3, 0, tzinfo=timezone.utc).timestamp()
    job_id = cron_job_id(spin.namespace, "nightly", tick)

    job = spin.get_job(job_id)
    assert job is not None and job.status is JobStatus.WAITING, (
        "the planned 03:00 tick of a task with track=True has no record"
    )
    try:
        status = spin.cancel(job_id)
    except JobNotFoundError as exc:
        pytest.fail(f"the planned tick cannot be cancelled: {exc}")
    assert status is JobStatus.CANCELLED
