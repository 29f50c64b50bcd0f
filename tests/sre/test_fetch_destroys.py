"""SRE review: a fetch that fails midway destroys the jobs it popped.

docs/internals.md, "Scripts and keys": every script "writes a job to its
destination before removing it from its source, so that a script that fails
[...] loses nothing; a value it does not expect [...] is repaired or set
aside".  ``fetch()`` in _common.lua does the opposite: it LPOPs a batch from
the queue first, then reads the concurrency keys, and only at the end
records the jobs as running.  Any error in between (Redis stops a script at
its first error, keeping what it wrote) loses the popped jobs: here a
``current_concurrency`` key of the wrong type, as an operator "resetting the
counters" with ``SET`` leaves it (a counter that is not a number is repaired;
a key that is not a hash is not).  The call is not retried (WRONGTYPE is a
bug to the broker), the arbiter backs off and fetches again, destroying the
next batch, until the queue is empty.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.redis


def test_a_failing_fetch_loses_the_jobs_it_popped(fresh_redis, ledger, wait_until):
    spin = ledger.engine(fresh_redis.client())
    ledger.start_worker(fresh_redis.url, threads=2)
    spin.schedule("gated_limited", "warm")  # a limited task: fetches read the counters
    ledger.wait_event(lambda e: e.startswith("start gated_limited warm#1"))
    ledger.release("warm#1")
    ledger.wait_event(lambda e: e.startswith("end gated_limited warm#1"))

    admin = fresh_redis.client()
    admin.set(f"{{{ledger.namespace}}}:current_concurrency", "0")  # the operator's mistake
    jobs = [spin.schedule("gated_limited", f"j{i}") for i in range(5)]
    broker = spin.broker
    wait_until(lambda: broker.queue_length("spinach") == 0, timeout=20, what="queue drained")
    admin.delete(f"{{{ledger.namespace}}}:current_concurrency")  # the mistake is undone

    started = ledger.watch(5, lambda e: e.startswith("start gated_limited j"))
    running = broker.running_jobs()
    rejected = broker.rejected()
    accounted = [j for j in jobs if j in running] + ([started] if started else []) + rejected
    assert accounted, (
        f"{len(jobs)} jobs vanished: not queued (length {broker.queue_length('spinach')}), "
        f"not running ({running}), not set aside ({rejected}), never started; "
        f"future: {broker.future_jobs_count()}"
    )
