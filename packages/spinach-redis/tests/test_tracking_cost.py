"""What following jobs costs in Redis commands, counted by the server (INFO commandstats).

Each flow enqueues a batch, fetches it and acknowledges it, for 100 jobs and
then for 200: commands that do not depend on the number of jobs cancel out,
and the difference is what 100 more jobs cost. A job with no following
option costs no command of its own in a batch: tracking code adds none.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest

from spinach.brokers.redis import RedisBroker
from spinach.clock import ManualClock
from spinach.job import Job, JobStatus
from spinach.task import Task
from spinach.utils import from_timestamp

pytestmark = pytest.mark.redis

_names = itertools.count()


def commands(client: Any) -> Counter[str]:
    stats = client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): v["calls"] for name, v in stats.items()})


def flow_cost(
    server: Any,
    jobs: int,
    track: int = 0,
    result: int = 0,
    queues: tuple[str, ...] = ("q",),
    unique: bool = False,
    rate_limited: tuple[str, ...] = (),
) -> Counter[str]:
    """Commands of enqueue + fetch + acknowledge of ``jobs`` jobs (the worker registered first)."""
    clock = ManualClock()
    broker = RedisBroker(server.client(), clock=clock)
    broker.namespace = f"cost{next(_names)}"
    broker.start()
    if rate_limited:  # a generous limit: what counting costs, with no job refused
        broker.set_concurrency_keys(
            [
                Task(lambda n: None, name, "q", 0, None, None, rate_limit=(10**6, 60.0))
                for name in rate_limited
            ]
        )
    client = server.client()
    batch = []
    for n in range(jobs):
        job = Job("task", "q", from_timestamp(clock.time()), 0, (n,), {})
        job.track, job.result_ttl = track, result
        if unique:
            job.unique = f"{n:040x}"
        batch.append(job)
    before = commands(client)
    broker.enqueue_jobs(batch)
    fetched = broker.get_jobs_from_queue(list(queues), jobs)
    for job in fetched:
        job.status = JobStatus.SUCCEEDED
        job._result = str(job.task_args[0])
    broker.acknowledge(fetched)
    cost = commands(client) - before
    cost["info"] = 0
    broker.stop()
    broker.flush()
    assert len(fetched) == jobs
    return +cost


def per_100_jobs(server: Any, **options: Any) -> Counter[str]:
    small, large = flow_cost(server, 100, **options), flow_cost(server, 200, **options)
    extra = Counter(large)
    extra.subtract(small)
    return +extra


def test_a_job_without_following_options_costs_no_command_of_its_own(fresh_redis):
    assert per_100_jobs(fresh_redis) == Counter()


def test_tracking_costs_six_commands_per_job(fresh_redis):
    # Enqueue: HSET + EXPIRE (a safety TTL); fetch: HMGET (cancelled while it
    # waited?) + HSET; end: HSET + EXPIRE.
    assert per_100_jobs(fresh_redis, track=600) == Counter(
        {"hset": 300, "expire": 200, "hmget": 100}
    )


def test_unique_keys_cost_four_commands_per_job(fresh_redis):
    # Enqueue: HGET (who holds the key?) + HSET (take it); end: HGET + HDEL.
    tracked = per_100_jobs(fresh_redis, track=600)
    unique = per_100_jobs(fresh_redis, track=600, unique=True)
    assert unique - tracked == Counter({"hget": 200, "hset": 100, "hdel": 100})


def test_rate_limits_cost_nothing_to_other_tasks_and_three_commands_to_theirs(fresh_redis):
    # The worker knows a rate-limited task, but these jobs are of another.
    assert per_100_jobs(fresh_redis, rate_limited=("other",)) == Counter()
    # Per job: ZSCORE (a reservation?), ZCOUNT (room?), ZADD (the start); the
    # window is trimmed, and its expiry set, once per task and fetch.
    assert per_100_jobs(fresh_redis, rate_limited=("task",)) == Counter(
        {"zscore": 100, "zcount": 100, "zadd": 100}
    )


def test_results_cost_two_commands_per_job(fresh_redis):
    assert per_100_jobs(fresh_redis, result=600) == Counter({"rpush": 100, "expire": 100})


def test_serving_several_queues_costs_no_command_per_job(fresh_redis):
    # The jobs wait in the last of three queues: the two before cost a few
    # commands per fetch, none per job.
    assert per_100_jobs(fresh_redis, queues=("high", "default", "q")) == Counter()
