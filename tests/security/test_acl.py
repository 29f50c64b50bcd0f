"""Least-privilege Redis ACL users: the line of docs/examples/redis.conf, proven.

The ``user`` line the documentation gives for workers is read from the
documentation's own file, and applied to a private server: a worker with
only those permissions runs every feature, and cannot reach another
namespace.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from spinach import Batch, Engine, ManualClock
from spinach.brokers.redis import RedisBroker
from spinach.exc import BrokerError

pytestmark = pytest.mark.redis

REDIS_CONF = Path(__file__).resolve().parents[2] / "docs" / "examples" / "redis.conf"


def documented_commands() -> list[str]:
    """The +command rules of the documented workers' ACL user."""
    [line] = [line for line in REDIS_CONF.read_text().splitlines() if line.startswith("user ")]
    rules = line.split()
    assert "-@all" in rules and "~{myapp}:*" in rules and "&{myapp}:*" in rules
    return [rule for rule in rules if rule.startswith("+")]


def acl_user(admin, name, namespace):
    """The documented user, for ``namespace`` instead of the example's."""
    admin.execute_command(
        "ACL", "SETUSER", name, "on", ">a-long-random-password", "resetkeys",
        f"~{{{namespace}}}:*", "resetchannels", f"&{{{namespace}}}:*", "-@all",
        *documented_commands(),
    )  # fmt: skip
    return redis.Redis(
        port=admin.connection_pool.connection_kwargs["port"],
        username=name,
        password="a-long-random-password",
    )


def test_least_privilege_acl_user_runs_every_feature(redis_server, recorder_for):
    admin = redis_server.client()
    admin.execute_command("ACL", "LOG", "RESET")
    clock = ManualClock()
    spin = Engine(RedisBroker(acl_user(admin, "worker", "prod"), clock=clock), namespace="prod")
    rec = recorder_for("prod")
    seen = []
    lock = threading.Lock()

    @spin.task(name="work", max_retries=2, max_concurrency=1)
    def work(i):
        with lock:
            seen.append(i)

    spin.task(lambda: None, name="tick", periodicity=timedelta(seconds=10))
    spin.schedule(work, 1)
    batch = Batch()
    for i in range(5):
        batch.schedule(work, i)
    batch.schedule_at(work, clock.now() + timedelta(seconds=5), 99)
    spin.schedule_batch(batch)
    spin.broker.inject_raw_payload("spinach", b"not a job")
    spin.start_workers(number=2, block=False)
    rec.wait_count("job_finished", 7)  # 6 jobs of work and the first tick
    assert clock.wait_for_sleepers(1)
    clock.advance(5)
    rec.wait_count("job_finished", 8, task_name=None)
    # Another worker's jobs are adopted when it dies (heartbeat, adoption, settling).
    dead = RedisBroker(acl_user(admin, "worker2", "prod"), clock=clock)
    dead.namespace = "prod"
    dead.start()
    spin.stop_workers()
    spin.schedule(work, 7)
    assert len(dead.get_jobs_from_queue("spinach", 10)) == 1
    clock.advance(120)
    spin.start_workers(number=1, block=False)
    rec.wait_for(lambda: 7 in seen)
    spin.stop_workers()
    dead.stop()
    assert sorted(set(seen)) == [0, 1, 2, 3, 4, 7, 99]
    assert spin.broker.rejected() == [b"not a job"]
    spin.broker.flush()
    denied = {entry[b"object"].decode() for entry in admin.execute_command("ACL", "LOG")}
    assert denied <= {"config|get"}, denied  # CONFIG is optional (eviction warning)


def test_acl_keeps_a_user_inside_its_namespace(redis_server):
    admin = redis_server.client()
    client = acl_user(admin, "prod-only", "prod")
    spin = Engine(RedisBroker(client, connection_attempts=1), namespace="stg")
    spin.task(lambda: None, name="noop")
    with pytest.raises(BrokerError, match=r"NOPERM|no permissions"):
        spin.schedule("noop")
