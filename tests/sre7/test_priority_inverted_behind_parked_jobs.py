"""Redis: a lower queue is served while a higher one still has runnable jobs.

Failure: ``get_jobs_from_queue`` / ``acknowledge_and_fetch`` promise strict
priority: "a queue is taken from only once the queues before it have no
runnable job left" (Broker docstring, docs/queues.md).  ``fetch`` in
_common.lua looks at ``budget`` payloads per queue (``max(100, 10 *
max_jobs)``); when the head of the first queue holds more jobs of a task at
its ``max_concurrency`` than that (they are parked), the budget runs out
before the runnable jobs behind them are reached, and ``fetch_queues`` goes
on to the next queue and takes its jobs.  The MemoryBroker has no such
budget and takes the runnable job of the first queue: the backends disagree.

Impact: priority inversion exactly when the high queue is congested: a
burst of a rate-limited task (``max_concurrency``) in "high" lets "low"
jobs take the free slots ahead of the urgent jobs queued behind the burst,
for as many fetches as it takes to park the burst 100 payloads at a time.

Today: [memory] passes; [redis], [redis62] and [cluster] take ``low0``
instead of ``urgent``.

Suggested fix: in ``fetch_queues``, do not move on to the next queue when
``fetch`` stopped because its budget ran out with jobs left in the queue
(it notes ``q:<queue>`` for another call already): return what was taken,
so that the next call goes on with the same queue.
"""

from __future__ import annotations

from datetime import datetime, timezone

from spinach.job import Job
from spinach.task import Task
from spinach.utils import from_timestamp


def job(clock, name: str, queue: str) -> Job:
    return Job(name, queue, from_timestamp(clock.time()), 0)


def test_runnable_high_jobs_behind_parked_ones_come_before_low_jobs(broker, clock):
    clock.advance(datetime(2026, 6, 1, tzinfo=timezone.utc).timestamp() - clock.time())
    broker.set_concurrency_keys([Task(lambda: None, "limited", "high", 0, None, 1)])
    broker.enqueue_jobs([job(clock, "limited", "high")])
    [running] = broker.get_jobs_from_queue(["high", "low"], 1)  # takes the only slot
    assert running.task_name == "limited"

    burst = [job(clock, "limited", "high") for _ in range(150)]
    broker.enqueue_jobs([*burst, job(clock, "urgent", "high"), job(clock, "low0", "low")])

    taken = []
    for _ in range(3):  # a call may stop on its budget; the next goes on with "high"
        taken = broker.get_jobs_from_queue(["high", "low"], 1)
        if taken:
            break
    assert [j.task_name for j in taken] == ["urgent"], (
        f"took {[j.task_name for j in taken]} while 'urgent' waits, runnable, in 'high'"
    )
