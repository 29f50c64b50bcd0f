"""SRE review: a periodic task runs again, off its grid, after its workers restart.

(Found by the review, fixed since: the test guards the fix.)

Periodic tasks are retired once no live worker declared them for
``broker_dead_threshold_seconds`` (heartbeat.lua), and a task declared
without a definition is "new", hence "first due now" (register_periodic.lua).
Workers of other queues (or of another service sharing the namespace) that
do not attach the task keep heart-beating, so when the only workers that
know it are down for longer than the threshold (a restart of that pool, a
slow image pull, a crash loop), the task is retired; when they come back it
runs at once, however recently it ran, and its grid moves to the restart
time.  "Periodic tasks run once per period" does not hold.

Real worker processes of tests/faults/worker_app.py (``--periodic``).
"""

from __future__ import annotations

import signal

import pytest

from .conftest import FAULTS_APP

pytestmark = pytest.mark.redis


def test_an_hourly_task_runs_once_an_hour_when_its_pool_restarts(fresh_redis, ledger, wait_until):
    hourly = ("--periodic", "3600")
    pool = ledger.start_worker(fresh_redis.url, app=FAULTS_APP, extra=hourly)
    ledger.wait_event(lambda e: e.startswith("tick tick_3600"))  # the first run, at start
    ledger.start_worker(fresh_redis.url, app=FAULTS_APP, queue="other")  # another pool

    pool.send_signal(signal.SIGTERM)  # the pool restarts: down for a little while
    assert pool.wait(30) == 0
    admin = fresh_redis.client()
    wait_until(
        lambda: not admin.hexists(f"{{{ledger.namespace}}}:periodic_defs", "tick_3600"),
        timeout=20,
        what="the hourly task retired by the other pool",
    )
    ledger.start_worker(fresh_redis.url, app=FAULTS_APP, extra=hourly)

    again = ledger.watch(10, lambda e: e.startswith("tick tick_3600"))
    assert again is None, (
        f"the hourly task ran twice within the hour: {again!r}; ledger: {ledger.records()}"
    )
