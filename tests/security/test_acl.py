"""Least-privilege Redis ACL users: the line of docs/examples/redis.conf, proven.

The ``user`` line the documentation gives for workers is read from the
documentation's own file and applied verbatim (only the user name, the
password and the example namespace are replaced) to a private server: a
worker with only those permissions runs every feature, and can neither
read, list, nor hear anything of another namespace.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from spinach import Batch, Engine, ManualClock
from spinach.brokers.redis import RedisBroker
from spinach.exc import BrokerError, BrokerUnavailableError, NamespaceError

pytestmark = pytest.mark.redis

#: The documented line is proven on Redis 7 and on 6.2, the oldest supported.
SERVERS = ["redis_server", pytest.param("redis62_server", marks=pytest.mark.redis62)]

REDIS_CONF = Path(__file__).resolve().parents[2] / "docs" / "examples" / "redis.conf"
PASSWORD = "a-long-random-password"
#: How Redis words a refusal of the ACL, outside and inside scripts.
DENIED = "NOPERM|permission|can't access|can't run"


def documented_rules(namespace: str, functions: bool = False) -> list[str]:
    """The rules of the documented workers' user, for ``namespace``.

    ``functions``: the commented line for ``RedisBroker(..., functions=True)``.
    """
    prefix = "# user " if functions else "user "
    [line] = [line for line in REDIS_CONF.read_text().splitlines() if line.startswith(prefix)]
    _, _, *rules = line.removeprefix("# ").split()
    assert rules[:4] == ["on", ">another-long-random-password", "resetkeys", "resetchannels"]
    rules[1] = f">{PASSWORD}"
    return [rule.replace("{myapp}", f"{{{namespace}}}") for rule in rules]


def acl_user(admin, name, namespace, functions=False):
    """A client of the documented user, for ``namespace`` instead of the example's."""
    admin.execute_command("ACL", "SETUSER", name, *documented_rules(namespace, functions))
    return redis.Redis(
        port=admin.connection_pool.connection_kwargs["port"], username=name, password=PASSWORD
    )


def test_the_documented_line_gives_no_command_that_lists_the_server():
    rules = documented_rules("myapp")
    assert "-@all" in rules
    granted = {rule[1:] for rule in rules if rule.startswith("+")}
    assert not granted & {"scan", "keys", "psubscribe", "pubsub", "@all", "@keyspace", "@admin"}
    assert [r for r in rules if r[0] in "~&%"] == ["~{myapp}:*", "&{myapp}:*"]


@pytest.mark.parametrize("server", SERVERS)
def test_least_privilege_acl_user_runs_every_feature(server, recorder_for, monkeypatch, request):
    from spinach.brokers.redis import broker as redis_broker

    redis_server = request.getfixturevalue(server)
    monkeypatch.setattr(redis_broker, "BATCH_CHUNK_JOBS", 2)  # batches staged, then committed
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
    spin.schedule(work, 7)
    spin.stop_workers()
    assert len(dead.get_jobs_from_queue("spinach", 10)) in (0, 1)
    spin.start_workers(number=1, block=False)
    for _ in range(15):  # the live worker heartbeats all along: a proven death
        assert clock.wait_for_sleepers(1)
        clock.advance(5)
    rec.wait_for(lambda: 7 in seen)
    spin.stop_workers()
    dead.stop()
    assert sorted(set(seen)) == [0, 1, 2, 3, 4, 7, 99]
    assert spin.broker.rejected() == [b"not a job"]
    spin.broker.flush()
    denied = {entry[b"object"].decode() for entry in admin.execute_command("ACL", "LOG")}
    # Optional calls only: CONFIG GET (the eviction warning) and redis-py's
    # CLIENT SETINFO at connection (ignored when refused); Redis 6.2 logs
    # them without their subcommand.
    assert denied <= {"config|get", "config", "client|setinfo", "client"}, denied


@pytest.mark.parametrize("server", SERVERS)
def test_another_namespace_is_out_of_reach(server, request):
    redis_server = request.getfixturevalue(server)
    admin = redis_server.client()
    other = Engine(RedisBroker(redis_server.client()), namespace="stg")
    other.task(lambda: None, name="noop")
    other.schedule("noop")
    other.broker.start()  # a worker: its record, its notifications channel
    try:
        client = acl_user(admin, "prod-only", "prod")
        denied = [
            ("LRANGE", "{stg}:queue:spinach", 0, -1),  # its jobs
            ("ZRANGE", "{stg}:brokers", 0, -1),  # its workers
            ("SMEMBERS", "{stg}:queues"),  # its queue names
            ("SCAN", 0),  # any key name of the server
            ("KEYS", "*"),
            ("PUBSUB", "CHANNELS"),  # any channel name
            ("PUBLISH", "{stg}:notify", "q:spinach"),
            ("EVAL", "return redis.call('LRANGE', KEYS[1], 0, -1)", 1, "{stg}:queue:spinach"),
            ("EVAL", "return redis.call('LRANGE', '{stg}:queue:spinach', 0, -1)", 0),
            ("CLIENT", "LIST"),  # the names and addresses of its workers
            ("ACL", "LIST"),
        ]
        for command in denied:
            with pytest.raises(redis.ResponseError, match=DENIED):
                client.execute_command(*command)
        pubsub = client.pubsub()
        for subscribe in (pubsub.subscribe, pubsub.psubscribe):
            with pytest.raises(redis.ResponseError, match=DENIED):
                subscribe("{stg}:notify")
                pubsub.get_message(timeout=5)
        # Through Spinach too: an engine of the other namespace gets nothing.
        intruder = Engine(RedisBroker(client, connection_attempts=1), namespace="stg")
        intruder.task(lambda: None, name="noop")
        with pytest.raises(BrokerUnavailableError, match=DENIED):
            intruder.schedule("noop")
        with pytest.raises(BrokerUnavailableError):
            intruder.broker.get_jobs_from_queue("spinach", 1)
        assert other.broker.queue_length("spinach") == 1
    finally:
        other.broker.stop()
        other.broker.flush()


@pytest.mark.parametrize("namespace", ["a*", "a?", "a[b]", "a\\b", "{a}", "a b", "a|b"])
def test_namespace_names_cannot_widen_an_acl_pattern(namespace):
    with pytest.raises(NamespaceError):
        Engine(RedisBroker(redis.Redis()), namespace=namespace)


def test_with_functions_the_user_runs_every_feature_without_eval(redis_server, recorder_for):
    admin = redis_server.client()
    RedisBroker.install_functions(admin)
    client = acl_user(admin, "fn-worker", "fn", functions=True)
    assert "eval" not in " ".join(documented_rules("fn", functions=True))
    spin = Engine(RedisBroker(client, functions=True), namespace="fn")
    rec = recorder_for("fn")
    spin.task(lambda n: None, name="work", max_retries=1, max_concurrency=1)
    spin.task(lambda: None, name="tick", periodicity=timedelta(seconds=60))
    spin.schedule("work", 1)
    batch = Batch()
    batch.schedule("work", 2)
    spin.schedule_batch(batch)
    spin.start_workers(number=2, block=False)
    rec.wait_count("job_finished", 3)
    spin.stop_workers()
    for command in (("EVAL", "return 1", 0), ("FUNCTION", "LOAD", "#!lua name=x\n")):
        with pytest.raises(redis.ResponseError, match=DENIED):
            client.execute_command(*command)
    spin.broker.flush()


def test_functions_not_loaded_say_who_must_load_them(redis_server):
    admin = redis_server.client()
    admin.function_flush()
    client = acl_user(admin, "fn-worker2", "fn2", functions=True)
    spin = Engine(RedisBroker(client, functions=True, connection_attempts=1), namespace="fn2")
    spin.task(lambda: None, name="noop")
    with pytest.raises(BrokerError, match="install_functions"):
        spin.schedule("noop")
    # An admin's broker loads them on first use.
    own = Engine(RedisBroker(redis_server.client(), functions=True), namespace="fn2")
    own.task(lambda: None, name="noop")
    own.schedule("noop")
    spin.schedule("noop")
    assert spin.broker.queue_length("spinach") == 2
    spin.broker.flush()


@pytest.mark.redis62
def test_functions_on_redis_6_2_fail_clearly(redis62_server):
    spin = Engine(RedisBroker(redis62_server.client(), functions=True), namespace="fn62")
    spin.task(lambda: None, name="noop")
    with pytest.raises(BrokerError, match="need Redis 7"):
        spin.schedule("noop")
