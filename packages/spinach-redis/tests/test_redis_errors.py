"""Every Redis error class, driven through a real server: ridden out, logged once, never fatal.

A producer's call retries for a few seconds, then raises a typed error that
says what is wrong; a worker's machinery retries as long as it takes and
goes on once Redis serves again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
import redis

from spinach import Engine, Tasks
from spinach.brokers.redis import RedisBroker
from spinach.exc import BrokerUnavailableError

pytestmark = pytest.mark.redis


@pytest.fixture
def make_server(tmp_path):
    from spinach_test_support.redis_server import RedisServer

    servers = []

    def make(*extra: str, **options: Any) -> Any:
        server = RedisServer(tmp_path / f"s{len(servers)}", extra=extra, **options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


class Deployment:
    """A worker engine and a producer engine on one server, and what the worker ran."""

    def __init__(self, client_factory, namespace, engines):
        self.done: list[int] = []
        self.ran = threading.Condition()
        tasks = Tasks()

        @tasks.task(name="work", max_retries=3)
        def work(n):
            with self.ran:
                self.done.append(n)
                self.ran.notify_all()

        self.worker = Engine(
            RedisBroker(client_factory(), broker_dead_threshold_seconds=3), namespace=namespace
        )
        self.worker.attach_tasks(tasks)
        self.producer = Engine(
            RedisBroker(client_factory(), connection_attempts=3), namespace=namespace
        )
        self.producer.attach_tasks(tasks)
        engines.extend([self.worker, self.producer])
        self.worker.start_workers(number=2, block=False)

    def wait_done(self, n: int, timeout: float = 20.0) -> None:
        with self.ran:
            assert self.ran.wait_for(lambda: n in self.done, timeout), self.done

    def machinery_alive(self) -> bool:
        name = f"{self.worker.namespace}-arbiter"
        return any(t.name == name and t.is_alive() for t in threading.enumerate())


def _records(caplog, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage() and r.levelno >= logging.WARNING]


def test_out_of_memory_is_ridden_out(make_server, namespace, engines, caplog, wait_until):
    server = make_server("--maxmemory-policy", "noeviction")
    admin = server.client()
    deployment = Deployment(server.client, namespace, engines)
    deployment.producer.schedule("work", 1)
    deployment.wait_done(1)

    caplog.set_level(logging.DEBUG, logger="spinach")
    admin.config_set("maxmemory", 1)  # every write refused with OOM from now on
    with pytest.raises(BrokerUnavailableError, match="out of memory"):
        deployment.producer.schedule("work", 2)
    wait_until(lambda: len(_records(caplog, "out of memory")) >= 2)  # the worker too

    def failures() -> int:
        return len([r for r in caplog.records if "used memory > 'maxmemory'" in r.getMessage()])

    wait_until(lambda: failures() > 4)  # many failed calls...
    admin.config_set("maxmemory", 0)

    deployment.producer.schedule("work", 3)
    deployment.wait_done(3)
    assert deployment.machinery_alive()
    # ...and one warning each for the producer and the worker.
    assert len(_records(caplog, "out of memory")) == 2
    assert _records(caplog, "works again after")


def test_read_only_replica_during_a_failover_is_ridden_out(
    make_server, namespace, engines, caplog, wait_until
):
    server = make_server()
    other = make_server()
    admin = server.client()
    deployment = Deployment(server.client, namespace, engines)
    deployment.producer.schedule("work", 1)
    deployment.wait_done(1)

    caplog.set_level(logging.WARNING, logger="spinach")
    admin.execute_command("REPLICAOF", "127.0.0.1", other.port)
    wait_until(lambda: admin.info("replication").get("master_link_status") == "up")
    with pytest.raises(BrokerUnavailableError, match="read-only replica"):
        deployment.producer.schedule("work", 2)
    wait_until(lambda: len(_records(caplog, "read-only replica")) >= 2)
    admin.execute_command("REPLICAOF", "NO", "ONE")  # promoted: writable again (and empty)

    deployment.producer.schedule("work", 3)
    deployment.wait_done(3)
    assert deployment.machinery_alive()
    # The promoted server has none of the worker's records: it finds out and registers again.
    assert "was declared dead by another worker (or Redis lost its data)" in caplog.text


def test_busy_script_is_ridden_out(make_server, namespace, engines, caplog, wait_until):
    server = make_server()
    admin = server.client()
    deployment = Deployment(server.client, namespace, engines)
    admin.config_set("busy-reply-threshold", 50)
    slow = (
        "local t = redis.call('TIME') local start = t[1] * 1e6 + t[2] "
        "repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] - start > 1500000 return 1"
    )
    hog = threading.Thread(target=server.client().eval, args=(slow, 0), name="test-slow-script")
    hog.start()

    def busy() -> bool:
        try:
            admin.ping()
        except redis.ResponseError as exc:
            return str(exc).startswith("BUSY")
        return False

    caplog.set_level(logging.WARNING, logger="spinach")
    wait_until(busy, timeout=5)
    producer = Engine(RedisBroker(server.client(), connection_attempts=20), namespace=namespace)
    producer.task(lambda n: None, name="work")
    producer.schedule("work", 1)  # waits out the script: nothing is lost
    hog.join(10)
    deployment.wait_done(1)
    assert _records(caplog, "busy running a long script")
    assert deployment.machinery_alive()


def test_loading_after_a_restart_is_ridden_out(make_server, namespace, engines, caplog, wait_until):
    # Each key takes 50 us to load: 40,000 keys keep the server LOADING for seconds,
    # and it answers (LOADING) between chunks of 1 KiB of its data.
    server = make_server(
        "--key-load-delay", "50", "--loading-process-events-interval-bytes", "1024",
        "--enable-debug-command", "yes",
    )  # fmt: skip
    admin = server.client()
    deployment = Deployment(server.client, namespace, engines)
    deployment.producer.schedule("work", 1)
    deployment.wait_done(1)
    admin.execute_command("DEBUG", "POPULATE", 40000)
    admin.save()

    caplog.set_level(logging.WARNING, logger="spinach")
    restart = threading.Thread(target=server.restart, name="test-restart")
    restart.start()

    def loading() -> bool:
        try:
            server.client(socket_timeout=10).ping()
        except redis.BusyLoadingError:
            return True
        except (redis.ConnectionError, redis.TimeoutError):
            return False
        return False

    wait_until(loading, timeout=20)
    producer = Engine(RedisBroker(server.client(), connection_attempts=30), namespace=namespace)
    producer.task(lambda n: None, name="work")
    producer.schedule("work", 2)  # waits out the loading
    restart.join(30)
    deployment.wait_done(2)
    assert _records(caplog, "loading its data set")
    assert deployment.machinery_alive()


def test_missing_permission_is_ridden_out(make_server, namespace, engines, caplog, wait_until):
    server = make_server()
    admin = server.client()
    admin.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all")

    def client():
        return redis.Redis(port=server.port, username="app", password="pw")

    deployment = Deployment(client, namespace, engines)
    deployment.producer.schedule("work", 1)
    deployment.wait_done(1)

    caplog.set_level(logging.WARNING, logger="spinach")
    admin.execute_command("ACL", "SETUSER", "app", "-evalsha", "-eval")
    with pytest.raises(BrokerUnavailableError, match="lacks a permission"):
        deployment.producer.schedule("work", 2)
    wait_until(lambda: len(_records(caplog, "lacks a permission")) >= 2)
    admin.execute_command("ACL", "SETUSER", "app", "+evalsha", "+eval")

    deployment.producer.schedule("work", 3)
    deployment.wait_done(3)
    assert deployment.machinery_alive()
