"""SRE review: rolling deploy, a job of a new task whose date is over an hour old.

(Found by the review, fixed since: the test guards the fix.)

docs/production.md: "A job of a task a worker does not know is handed back,
unstarted and unchanged, for a worker that knows it [...]; only once no
worker has known its task for an hour does it count as a failed attempt."

The arbiter measures that hour from the job's ``at`` (arbiter.py,
``_hand_back_unknown``), not from when workers started not knowing it.  A
job dated more than an hour ago (``schedule_at`` with a past date, or a job
that waited in a backlog for an hour) fails at once, max_retries=0 jobs for
good, on the first old worker that sees it, while a worker that knows the
task is alive.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

pytestmark = pytest.mark.redis


def test_an_old_worker_never_fails_a_past_dated_job_of_a_new_task(fresh_redis, ledger):
    spin = ledger.engine(fresh_redis.client())
    new = ledger.start_worker(fresh_redis.url, threads=1, version=2)  # knows new_once
    spin.schedule("gated", "busy")  # keeps the new worker's only slot busy
    ledger.wait_event(lambda e: e == f"start gated busy#1 {new.pid}")
    old = ledger.start_worker(fresh_redis.url, threads=2, version=1)  # does not know new_once

    # E.g. a reminder "one hour after signup", scheduled by the new code for a
    # user who signed up two hours ago.
    spin.schedule_at("new_once", spin.broker.clock.now() - timedelta(hours=2), "n1")
    dropped = ledger.watch(5, lambda e: e.startswith("failed:") and "new_once" in e)
    ledger.release("busy#1")  # the new worker is free: the job should run there
    ran = ledger.watch(10, lambda e: e.startswith("run new_once n1"))
    assert dropped is None and ran is not None, (
        f"job of a task known to a live worker was failed by an old one: {dropped!r}; "
        f"ran: {ran!r}; ledger: {ledger.records()}\nold worker log:\n{ledger.log_of(old)}"
    )
