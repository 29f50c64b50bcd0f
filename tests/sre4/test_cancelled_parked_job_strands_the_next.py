"""A parked job cancelled while it waits for a slot strands the job parked behind it.

Scenario: a task with ``max_concurrency=1`` gets three jobs A, B, C at once
(a batch, a burst).  A worker fetches all three in one call: A runs, B and C
are parked (``{ns}:parked:<task>``).  An operator cancels B: cancel.lua
finds its record QUEUED, marks it (``cancel = 1``) and leaves it parked, to
be dropped "by the fetch that finds it" (lazy cancellation).

A ends: release() frees the token and unpark() moves as many parked jobs as
the limit allows, one, to the front of the queue: B.  The next fetch finds B
cancelled and drops it (cancelled_here()).  Nothing counts against the limit
any more, but C is still parked, and nothing unparks it: unpark() only runs
when a job of the task ends (release), when a worker declares the limit at
start (set_concurrency.lua) or when the limit is lifted.  Unless another job
of the task comes along, or a worker restarts, C never runs: lost in
practice (the end of a batch, a nightly job).

Before the lazy cancellation (c056be1 .. d60ef51) cancel.lua removed the
parked job from its list at once, so A's release unparked C.
"""

from __future__ import annotations

import threading

from spinach import JobStatus


def test_a_cancelled_parked_job_does_not_strand_the_next_one(make_engine, wait_until):
    spin = make_engine()
    release_a = threading.Event()
    started: list[str] = []
    ran_c = threading.Event()

    @spin.task(name="limited", track=True, max_concurrency=1, max_retries=1)
    def limited(name):
        started.append(name)
        if name == "A":
            release_a.wait(30)
        if name == "C":
            ran_c.set()

    a = spin.schedule(limited, "A")
    b = spin.schedule(limited, "B")
    c = spin.schedule(limited, "C")
    spin.start_workers(number=4, block=False)
    try:
        wait_until(lambda: started == ["A"], 10, "A runs")
        broker = spin.broker
        parked = broker._redis.llen(f"{broker.keys.prefix}parked:limited")
        assert parked == 2, "B and C wait for A's slot"
        assert spin.cancel(b.id) is JobStatus.CANCELLED
        release_a.set()
        wait_until(lambda: spin.get_job(a.id).status is JobStatus.SUCCEEDED, 10, "A ends")
        ran = ran_c.wait(10)
        assert ran, (
            f"C never ran: its record says {spin.get_job(c.id).status.name}, "
            f"parked:limited holds {broker._redis.llen(f'{broker.keys.prefix}parked:limited')} "
            f"job(s), queue_length()={spin.broker.queue_length('spinach')}, "
            f"started={started}"
        )
    finally:
        release_a.set()
        spin.stop_workers()
    assert "B" not in started
