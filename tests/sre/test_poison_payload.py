"""SRE review: a job argument nested deeply enough to stop a worker for good.

(Found by the review, fixed since: the test guards the fix.)

(Since this review, producers refuse arguments deeper than their
PayloadLimits, and workers set aside payloads deeper than theirs before
decoding them; the test now schedules from a producer whose limits are far
larger than the worker's, as a misconfigured deployment would.)

``schedule()`` refuses arguments nested deeper than the producer's own
recursion limit allows (serialization.check_arguments turns the
RecursionError into a SerializationError).  A worker decodes the payload
with ``json`` under *its* recursion limit; ``serialization.loads`` turns
ValueError into SerializationError but lets RecursionError through, and the
worker only sets aside payloads that raise SerializationError
(``RedisBroker._fetched``, ``_orphans``, ``check_dead_workers``).

So a job accepted by a producer whose limit is higher (``sys.setrecursionlimit``
is common in apps handling deep data; a producer called from a shallower
stack than the worker's arbiter gets the same a few levels short of 1000)
raises RecursionError in the worker's arbiter on every turn: the fetch
fails, the job stays recorded as running, every later heartbeat raises while
handling it as an orphan, and the arbiter never reaches the fetch again.
The worker, alive and heart-beating, runs nothing more.
"""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.redis


def test_a_deeply_nested_argument_stops_no_worker(fresh_redis, ledger):
    from spinach.serialization import PayloadLimits

    spin = ledger.engine(fresh_redis.client(), payload_limits=PayloadLimits(max_depth=5000))
    worker = ledger.start_worker(fresh_redis.url, threads=2)

    nested: object = "x"
    for _ in range(1500):
        nested = [nested]
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(5000)  # a producer that deals with deep data
    try:
        spin.schedule("gated_once", nested)  # accepted by this producer's limits
    finally:
        sys.setrecursionlimit(previous)

    spin.schedule("gated", "after")  # an ordinary job behind it
    ran = ledger.watch(15, lambda e: e.startswith("start gated after#1"))
    ledger.release("after#1")
    log = ledger.log_of(worker)
    assert ran is not None, (
        "the worker ran nothing after fetching the nested job; rejected payloads: "
        f"{len(spin.broker.rejected())}; worker alive: {worker.poll() is None}; "
        f"RecursionError in its log: {log.count('RecursionError')} times\n{log[-3000:]}"
    )
