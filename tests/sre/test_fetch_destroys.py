"""SRE review: a fetch that fails midway destroys the jobs it popped.

(Found by the review, fixed since: the test guards the fix.)

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


def test_a_key_of_the_wrong_type_loses_no_popped_job(fresh_redis, ledger, wait_until):
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
    # The key of the wrong type is set aside and the counters recounted: one
    # job runs (the limit is 1), the four others wait, and none vanished.
    first = ledger.wait_event(lambda e: e.startswith("start gated_limited j"))
    wait_until(lambda: len(broker.running_jobs()) == 1 and broker.queue_length("spinach") == 4)
    assert admin.type(f"{{{ledger.namespace}}}:current_concurrency:corrupt") == b"string"
    names = [first.split()[2]]
    for _ in range(4):
        ledger.release(names[-1])
        names.append(ledger.wait_event(lambda e: e.startswith("start gated_limited j")).split()[2])
    ledger.release(names[-1])
    assert sorted(n.split("#")[0] for n in names) == sorted(f"j{i}" for i in range(5))
    assert len(jobs) == 5
