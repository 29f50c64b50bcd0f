"""Inspecting a large queue reads one page of it, not the queue (INFO commandstats)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from spinach.brokers.redis import RedisBroker
from spinach.clock import ManualClock
from spinach.inspection import Inspector
from spinach.job import Job
from spinach.utils import from_timestamp

pytestmark = pytest.mark.redis

JOBS = 200_000


def commands(client: Any) -> Counter[str]:
    stats = client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): v["calls"] for name, v in stats.items()})


def test_a_page_of_a_queue_of_200_000_jobs_costs_one_command(fresh_redis):
    clock = ManualClock()
    broker = RedisBroker(fresh_redis.client(), clock=clock)
    broker.namespace = "big"
    client = fresh_redis.client()
    at = from_timestamp(clock.time())
    key = broker.keys.queue("q")
    for start in range(0, JOBS, 20_000):
        pipe = client.pipeline(transaction=False)
        payloads = [
            Job("task", "q", at, 0, (n,), {}).serialize() for n in range(start, start + 20_000)
        ]
        pipe.rpush(key, *payloads)
        pipe.execute()
    client.sadd(broker.keys.queues, "q")
    inspect = Inspector(broker)
    inspect.jobs("q", 0, 1)  # the broker's connection is open: its handshake is not counted

    before = commands(client)
    page = inspect.jobs("q", 150_000, 100)
    cost = commands(client) - before
    cost["info"] = 0

    assert [job.task_args[0] for job in page] == list(range(150_000, 150_100))
    assert +cost == Counter({"lrange": 1})

    before = commands(client)
    [info] = inspect.queues()
    cost = commands(client) - before
    cost["info"] = 0
    assert info.length == JOBS
    assert +cost == Counter({"smembers": 1, "llen": 1, "hget": 1, "lindex": 1})
    broker.flush()
