"""MemoryBroker: a cron tick fetched by a worker that does not know its task is dropped.

Failure: during a rolling deploy that adds a cron task, workers of the old
version still serve the queue.  When one of them fetches a tick of the new
task first, it hands the job back (as for any job of an unknown task, see
``UNKNOWN_TASK_GRACE``), and the MemoryBroker silently drops it:
``MemoryBroker._retired_periodic_run`` takes it for "a run of a retired
periodic task" because its id is the tick-derived ``periodic_job_id`` and the
task is not in ``space.periodic``.  The same happens to the last tick of a
cron task removed from the code, which docs/tasks.md says "fails as a job of
an unknown task".  The Redis brokers keep the tick, only by accident:
``retired_periodic_run`` in _common.lua hashes the payload's ``"at"`` text
(``1780282800.0`` for a cron tick, ``%.6f`` for a periodic run), so the
MemoryBroker breaks the contract it is documented to keep ("code tested on
it behaves the same on Redis").

Impact: with the MemoryBroker (development, tests, embedded use), a tick is
lost without a log line, failed job or signal; a test suite on the
MemoryBroker cannot show how a cron task behaves in a deploy.  On Redis the
agreement rests on a float's formatting: a payload writing ``at`` with six
decimals would be dropped there too.

Today: [memory] fails (the tick is neither queued nor in the future jobs
after the hand-back); [redis], [redis62], [cluster] pass.

Suggested fix: treat as retired only the runs of tasks that had a
``periodicity`` (e.g. MemoryBroker remembers retired periodic names in
``periodic_retired`` and checks membership there; Lua likewise checks a
retired set rather than only the absence of a definition), so that a cron
tick handed back is stored again like any unknown task's job.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from spinach.cron import CronPlanner, CronSchedule
from spinach.task import Task

pytest.importorskip("cronsim")


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def test_a_tick_handed_back_by_an_old_worker_still_runs(backend, clock):
    clock.advance(utc(2026, 6, 1, 2, 59) - clock.time())
    task = Task(lambda: None, "report", "q", 0, None, None, cron=CronSchedule("0 3 * * *"))
    new = backend.broker()  # knows the cron task
    new.start()
    old = backend.broker()  # the previous version: does not know it
    old.start()
    CronPlanner(new.namespace, new, lambda: {"report": task}).plan(clock.time())

    clock.advance(60)  # 03:00: the tick is due
    old.move_future_jobs()
    [job] = old.get_jobs_from_queue("q", 10)  # the old worker is faster
    assert job.task_name == "report"
    job.hand_back(clock.time() + 1)  # what the arbiter does with an unknown task
    old.acknowledge([job])

    clock.advance(2)
    new.move_future_jobs()
    taken = new.get_jobs_from_queue("q", 10)
    assert [j.task_name for j in taken] == ["report"], (
        "the 03:00 tick handed back by a worker that does not know the task was dropped "
        f"(future jobs: {new.future_jobs_count()}, queue: {new.queue_length('q')})"
    )
