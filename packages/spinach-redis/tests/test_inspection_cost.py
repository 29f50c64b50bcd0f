"""Inspecting a large queue reads one page of it, not the queue (INFO commandstats)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from spinach.brokers.redis import RedisBroker
from spinach.clock import ManualClock
from spinach.cron import CronSchedule
from spinach.inspection import Inspector
from spinach.job import Job
from spinach.task import Task
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


def cost_of(client: Any, read: Any) -> tuple[Any, Counter[str]]:
    """What ``read()`` returns, and the commands it sent (INFO left out)."""
    before = commands(client)
    result = read()
    cost = commands(client) - before
    cost["info"] = 0
    return result, +cost


def test_pages_of_failed_jobs_and_rejected_payloads_cost_one_page(fresh_redis):
    clock = ManualClock()
    broker = RedisBroker(fresh_redis.client(), clock=clock)
    broker.namespace = "big"
    keys, client = broker.keys, fresh_redis.client()
    at = from_timestamp(clock.time())
    many = 20_000
    for start in range(0, many, 5_000):
        pipe = client.pipeline(transaction=False)
        for n in range(start, start + 5_000):
            job = Job("task", "q", at, 0, (n,), {})
            failed_at = clock.time() - many + n  # the higher n, the newer
            pipe.zadd(keys.failed, {job.id_hex: failed_at})
            pipe.hset(
                keys.failed_job(job.id_hex),
                mapping={"payload": job.serialize(), "failed_at": repr(failed_at), "worker": "w"},
            )
        pipe.rpush(keys.rejected, *(f"junk {n}" for n in range(start, start + 5_000)))
        pipe.execute()
    inspect = Inspector(broker)
    inspect.failed_count()  # the broker's connection is open: its handshake is not counted

    page, cost = cost_of(client, lambda: inspect.failed(15_000, 100))
    assert [failed.job.task_args[0] for failed in page] == list(range(4_999, 4_899, -1))
    assert cost == Counter({"zrevrangebyscore": 1, "hmget": 100})
    count, cost = cost_of(client, inspect.failed_count)
    assert (count, cost) == (many, Counter({"zcount": 1}))
    junk, cost = cost_of(client, lambda: inspect.rejected(15_000, 100))
    assert junk == [f"junk {n}".encode() for n in range(15_000, 15_100)]
    assert cost == Counter({"lrange": 1})
    broker.flush()


def test_limits_count_a_crowded_window_without_reading_it(fresh_redis):
    clock = ManualClock()
    broker = RedisBroker(fresh_redis.client(), clock=clock)
    broker.namespace = "big"
    keys, client = broker.keys, fresh_redis.client()
    api = Task(lambda: None, "api", "q", 1, None, 5, rate_limit=(1000, 60.0))
    now = clock.time()
    window = keys.rate("api")
    for start in range(0, JOBS, 20_000):  # 1,000 starts in the window, the rest reserved
        client.zadd(
            window, {f"{n:032x}:0": now - 30 + n * 0.06 for n in range(start, start + 20_000)}
        )
    client.zadd(window, {"old:0": now - 120})  # out of the window, not trimmed yet
    at = from_timestamp(now)
    payloads = [Job("api", "q", at, 1, (n,), {}).serialize() for n in range(20_000)]
    client.rpush(keys.parked("api"), *payloads)
    client.hset(keys.current_concurrency, "api", 5)
    inspect = Inspector(broker, [api])
    inspect.failed_count()  # the broker's connection is open: its handshake is not counted

    [info], cost = cost_of(client, inspect.limits)
    assert (info.running, info.parked) == (5, 20_000)
    assert (info.rate_started, info.rate_waiting) == (501, JOBS - 501)
    assert cost == Counter({"hget": 1, "llen": 1, "zcount": 2})
    broker.flush()


def test_schedules_cost_one_read_of_each_registry(fresh_redis):
    pytest.importorskip("cronsim")
    clock = ManualClock()
    broker = RedisBroker(fresh_redis.client(), clock=clock)
    broker.namespace = "big"
    client = fresh_redis.client()
    tasks = [Task(lambda: None, f"every{n}", "q", 0, timedelta(minutes=n + 1), None)
             for n in range(50)]  # fmt: skip
    tasks += [Task(lambda: None, f"cron{n}", "q", 0, None, None, cron=CronSchedule("@hourly"))
              for n in range(50)]  # fmt: skip
    broker.register_periodic_tasks(tasks)
    inspect = Inspector(broker, tasks)
    inspect.failed_count()  # the broker's connection is open: its handshake is not counted

    found, cost = cost_of(client, inspect.schedules)
    assert len(found) == 100
    assert cost == Counter({"zrange": 1, "hmget": 1})
    broker.flush()
