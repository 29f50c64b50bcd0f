"""SRE review 2: after a rolling deploy, a new concurrency limit may not hold at all.

``set_concurrency_keys`` (set_concurrency.lua) runs when a worker starts and
*removes* the limit of every task the worker knows without one ("None lifts
a limit"). In a rolling deploy that adds ``max_concurrency`` to a task, an
old-version worker that starts after a new one (a restarted pod, autoscaling
during the roll-out) lifts the limit for the whole namespace, and it stays
lifted once the deploy is over and only new workers run, until one of them
restarts: "max_concurrency is never exceeded across processes" does not
hold. Periodic tasks, by contrast, are merged across versions ("a worker
declares the ones it knows and never removes the others'").
"""

from __future__ import annotations

import threading
import uuid

import pytest

from spinach import Engine
from spinach.brokers.redis import RedisBroker

pytestmark = pytest.mark.redis


def test_a_limit_added_by_a_deploy_holds_once_the_deploy_is_over(redis_server, recorder_for):
    namespace = f"sre2cc{uuid.uuid4().hex[:8]}"
    lock = threading.Lock()
    running, most = [0], [0]
    gate = threading.Event()

    def report() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        gate.wait(10)
        with lock:
            running[0] -= 1

    new = Engine(RedisBroker(redis_server.client()), namespace=namespace)
    new.task(report, name="report", max_retries=1, max_concurrency=1)  # the new version
    old = Engine(RedisBroker(redis_server.client()), namespace=namespace)
    old.task(report, name="report", max_retries=1)  # the old version: no limit
    rec = recorder_for(namespace)
    try:
        new.start_workers(number=4, block=False)  # the first new worker
        old.start_workers(number=1, block=False)  # an old worker restarts meanwhile
        old.stop_workers()  # the roll-out ends: only new workers are left
        for _ in range(3):
            new.schedule("report")
        rec.wait_for(lambda: rec.count("job_started") >= 3, timeout=3)
        with lock:
            peak = most[0]
        gate.set()
        rec.wait_count("job_finished", 3)
        assert peak == 1, f"max_concurrency=1, yet {peak} jobs of the task ran at once"
    finally:
        gate.set()
        new.stop_workers()
        new.broker.flush()
