"""Cancelling a batch of 10,000 queued jobs stalls Redis for seconds.

Scenario (production): a backlog of 30,000 jobs sits in the queue (a slow
night), then a tracked batch of 10,000 jobs is scheduled behind it; the
batch turns out to be wrong and is cancelled with ``Engine.cancel_jobs``,
the documented way ("a whole batch ... in one atomic call").

cancel.lua removes each queued job with ``LREM queue 1 <payload>``, which
walks the list from its head: behind the backlog every one of the 10,000
calls walks 30,000 entries, 3e8 comparisons in one script.  Redis runs
nothing else meanwhile: past ``lua-time-limit`` (5 s) every other client,
workers included, gets ``BUSY Redis is busy running a script`` and the
script cannot be killed (it has written).  The caller's own socket times
out and the broker runs the script again.  Cost grows with queue length
times batch size: 100,000 jobs ahead would block Redis for about half a
minute, long enough for heartbeats to lapse everywhere.
"""

from __future__ import annotations

import threading
import time

import pytest

from spinach import Batch, JobStatus

from .conftest import producer


# Alone: the bound is on how long Redis runs one script, which the CPU load of
# other tests running at once (on a 2-core machine) stretches past it.
@pytest.mark.serial
def test_cancelling_a_big_batch_keeps_redis_responsive(redis_server, ledger):
    client = redis_server.client()
    spin = producer(client, ledger.namespace)
    spin.attach_tasks(_plain_tasks())
    for start in range(0, 30_000, 10_000):
        backlog = Batch()
        for i in range(start, start + 10_000):
            backlog.schedule("plain", i)
        spin.schedule_batch(backlog)
    batch = Batch()
    for i in range(10_000):
        batch.schedule("once", str(i))
    jobs = spin.schedule_batch(batch)

    # Another client of the same Redis: a worker's heartbeat, a web request.
    other = redis_server.client(socket_timeout=None)
    stop, worst, errors = threading.Event(), [0.0], []

    def watch() -> None:
        while not stop.is_set():
            began = time.monotonic()
            try:
                other.ping()
            except Exception as exc:  # BUSY, while a script runs too long
                errors.append(f"{type(exc).__name__}: {exc}")
            worst[0] = max(worst[0], time.monotonic() - began)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        began = time.monotonic()
        statuses = spin.cancel_jobs(jobs)
        took = time.monotonic() - began
    finally:
        stop.set()
        watcher.join()
    assert set(statuses) == {JobStatus.CANCELLED}
    assert not errors, f"other clients got errors while cancel_jobs ran: {errors[:1]}"
    assert worst[0] < 1.0, (
        f"Redis answered nobody else for {worst[0]:.1f} s while cancelling 10,000 jobs "
        f"(cancel_jobs took {took:.1f} s)"
    )


def _plain_tasks():
    from spinach import Tasks

    tasks = Tasks()
    tasks.add(lambda i: None, name="plain", max_retries=0)
    return tasks
