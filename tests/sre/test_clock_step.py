"""SRE review: a worker's wall clock stepped back while it runs.

(Found by the review, fixed since: the test guards the fix.)

docs/production.md: "A machine whose clock is minutes off neither starts a
job early nor declares a live worker dead."  The decisions are the server's,
but the arbiter *schedules its own heartbeats* with ``broker.clock.time()``
(arbiter.py ``_loop``: ``next_heartbeat = now + heartbeat_interval``), and
``ServerClock.time()`` is ``time.time() + offset``: the wall clock.  When
NTP (or a VM resume, or an operator) steps a machine's clock back by more
than the threshold, as it does when it corrects a clock that was minutes
ahead, the worker stops heart-beating for the size of the step and is
declared dead while it is alive and running its jobs.

Real worker processes; the step is applied to the worker's ``time.time``
(sre_worker.py), as the machine's clock would be.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.redis

THRESHOLD = 3.0


def test_a_clock_stepped_back_never_makes_a_live_worker_dead(fresh_redis, ledger):
    spin = ledger.engine(fresh_redis.client())
    worker = ledger.start_worker(fresh_redis.url, threads=2, threshold=THRESHOLD)
    wid = ledger.wait_event(lambda e: e.startswith("identity") and e.endswith(str(worker.pid)))
    wid = wid.split()[2]
    ledger.start_worker(fresh_redis.url, threads=1, threshold=THRESHOLD, queue="other")
    spin.schedule("gated_once", "c1")
    ledger.wait_event(lambda e: e.startswith("start gated_once c1#1"))

    ledger.command(worker, "step -30")  # e.g. NTP correcting a clock 30 s ahead
    ledger.wait_event(lambda e: e.startswith("stepped clock"))
    verdict = ledger.watch(
        15, lambda e: (e.startswith("dead worker") and e.split()[2] == wid) or "failed:" in e
    )
    ledger.release("c1#1")
    assert worker.poll() is None  # alive all along
    assert verdict is None, (
        f"a live worker was declared dead after its clock was stepped back: {verdict!r}; "
        f"ledger: {ledger.records()}\nworker log:\n{ledger.log_of(worker)}"
    )
