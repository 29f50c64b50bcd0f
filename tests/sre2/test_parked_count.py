"""SRE review 2: a parked-jobs counter that is not a number loses and duplicates jobs.

Threat model (docs/production.md): whoever can corrupt values "(counters,
limits, periodic definitions)" can "delay jobs", but not "lose jobs or stop
workers: values are repaired or set aside". ``current_concurrency`` is
recounted when it is not a number; ``parked_count`` (jobs parked per queue)
is not: ``safe_call('HINCRBY', parked_count, queue, ±1)`` in _common.lua
(``fetch`` and ``unpark``) fails on a value that is not an integer, which is
not WRONGTYPE, so the script stops halfway:

- in ``fetch``, after its LPOP: the jobs it was parking after the first one
  are in no key any more (lost);
- in ``unpark``, after LPUSHing a parked job to its queue and before the
  LTRIM of the parked list: the job is both queued and still parked, and is
  queued again at every release of its task (a job that succeeded runs again
  and again).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest

from spinach import Batch, Engine
from spinach.brokers.redis import RedisBroker

pytestmark = pytest.mark.redis


def test_a_parked_count_that_is_not_a_number_loses_and_duplicates_nothing(
    redis_server, recorder_for
):
    namespace = f"sre2pk{uuid.uuid4().hex[:8]}"
    admin = redis_server.client()
    spin = Engine(RedisBroker(redis_server.client()), namespace=namespace)
    rec = recorder_for(namespace)
    runs: Counter[str] = Counter()
    lock = threading.Lock()
    gate = threading.Event()

    @spin.task(name="limited", max_retries=3, max_concurrency=1)
    def limited(name: str) -> None:
        with lock:
            runs[name] += 1
        if name == "first":
            gate.wait(30)

    try:
        spin.start_workers(number=4, block=False)
        spin.schedule("limited", "first")
        rec.wait_count("job_started", 1)
        # A counter that is not a number (an operator's or a foreign write).
        admin.hset(f"{{{namespace}}}:parked_count", "spinach", "not-a-number")
        batch = Batch()
        for name in ("a", "b", "c"):
            batch.schedule("limited", name)
        spin.schedule_batch(batch)  # one push: one fetch pops the three
        queue = f"{{{namespace}}}:queue:spinach"
        # (broker.queue_length() itself raises on the counter: int(b"not-a-number"))
        rec.wait_for(lambda: admin.llen(queue) == 0, timeout=5)
        gate.set()
        rec.wait_for(
            lambda: sum(runs.values()) >= 4 and admin.llen(queue) == 0,
            timeout=10,
        )
        rec.wait_for(lambda: sum(runs.values()) > 4, timeout=3)  # any extra run shows
        with lock:
            seen = dict(runs)
        assert seen == {"first": 1, "a": 1, "b": 1, "c": 1}, (
            f"runs of each job (each succeeds): {seen}; "
            f"parked list now: {admin.lrange(f'{{{namespace}}}:parked:limited', 0, -1)}"
        )
    finally:
        gate.set()
        spin.stop_workers()
        admin.delete(f"{{{namespace}}}:parked_count")
        spin.broker.flush()
