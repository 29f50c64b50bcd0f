"""A page of future jobs is not the same on every broker when jobs share a date.

Failure: ``Inspector.future_jobs`` promises the same result on every broker.
MemoryBroker orders jobs due at the same time by the order they were
enqueued (its heap's sequence); RedisBroker's ZRANGE orders them by payload
bytes, that is by job id (random). Three jobs due at the same instant come
back in enqueue order from memory and in id order from Redis, so a page
(offset/limit) holds different jobs on each broker. (Redis also *moves* them
to the queue in that id order, so the listing matches its own behaviour but
not the contract's.)

Impact: a dashboard or tool tested on MemoryBroker pages differently on
Redis; cron ticks and batches scheduled for the same second (common: round
dates) are listed in an arbitrary order.

Suggested fix: define the tie order in the contract and make both brokers
follow it, e.g. MemoryBroker breaks ties by payload (as the ZSET does), or
the Redis score carries a sequence.
"""

from __future__ import annotations

import uuid

from spinach.inspection import Inspector
from spinach.job import Job
from spinach.utils import from_timestamp


def test_jobs_due_at_the_same_time_are_paged_alike(broker, clock):
    at = from_timestamp(clock.time() + 60)
    ids = ["f" * 32, "8" * 32, "1" * 32]  # enqueue order is the reverse of id order
    jobs = [
        Job("task", "q", at, 0, (name,), {}, id=uuid.UUID(job_id))
        for name, job_id in zip(("first", "second", "third"), ids)
    ]
    for job in jobs:
        broker.enqueue_jobs([job])

    inspect = Inspector(broker)
    # The contract chosen: ties in the order of their payloads (Redis orders the
    # members of equal score so; the MemoryBroker follows), here by id.
    assert [job.task_args[0] for job in inspect.future_jobs(0, 10)] == [
        "third",
        "second",
        "first",
    ]
    assert [job.task_args[0] for job in inspect.future_jobs(0, 1)] == ["third"]
    assert [job.task_args[0] for job in inspect.future_jobs(1, 1)] == ["second"]
