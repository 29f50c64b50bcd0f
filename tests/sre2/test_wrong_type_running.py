"""SRE review 2: one key of the wrong type stops every worker of the namespace.

The first review's fix (``safe_call`` in _common.lua) sets a key of the wrong
type aside wherever a *fetch* writes it. The heartbeat does not: when it
adopts a dead worker's jobs, heartbeat.lua reads ``running:<dead>`` with a
plain ``HGETALL``; a value of another type there (an operator "clearing" a
stuck worker with SET, or anyone who can write to the namespace) makes every
live worker's heartbeat fail with WRONGTYPE once the dead worker is due for
adoption. The error is not retried by the broker (a bug to it), the arbiter
backs off and heartbeats again first, for ever: no worker of the namespace
fetches, acknowledges or moves a job again. The threat model says such a
writer "cannot stop or crash a worker".
"""

from __future__ import annotations

import uuid

import pytest

from spinach import Engine
from spinach.brokers.redis import RedisBroker

pytestmark = pytest.mark.redis


def test_a_dead_workers_record_of_the_wrong_type_stops_no_live_worker(
    redis_server, recorder_for, wait_until
):
    namespace = f"sre2wt{uuid.uuid4().hex[:8]}"
    admin = redis_server.client()
    live = Engine(
        RedisBroker(redis_server.client(), broker_dead_threshold_seconds=1.0), namespace=namespace
    )
    live.task(lambda: None, name="work")
    rec = recorder_for(namespace)
    # A worker that registers and then dies (its process killed).
    dead = RedisBroker(redis_server.client(), broker_dead_threshold_seconds=1.0)
    dead.namespace = namespace
    dead.start()
    dead._subscriber.stop()  # nothing of it runs any more
    admin.set(f"{{{namespace}}}:running:{dead.id}", "cleared")  # the operator's SET
    try:
        live.start_workers(number=2, block=False)
        live.schedule("work")
        rec.wait_count("job_finished", 1)
        # Once the dead worker is older than the threshold, every heartbeat fails.
        brokers = f"{{{namespace}}}:brokers"

        def overdue() -> bool:
            seen = admin.zscore(brokers, dead.id)
            return seen is None or admin.zscore(brokers, live.broker.id) - seen > 3

        wait_until(overdue, timeout=10, what="the dead worker is overdue for adoption (or gone)")
        for _ in range(3):
            live.schedule("work")
        finished = rec.wait_for(lambda: rec.count("job_finished") >= 4, timeout=10)
        assert finished, (
            f"{rec.count('job_finished') - 1} of 3 jobs ran after a dead worker's record "
            f"became a string; queue: {admin.llen(f'{{{namespace}}}:queue:spinach')} jobs"
        )
    finally:
        live.stop_workers()
        admin.delete(f"{{{namespace}}}:running:{dead.id}")
        live.broker.flush()
