"""Configuration: ready clients, URLs, passwords, TLS, server settings."""

from __future__ import annotations

import logging

import pytest

from spinach import Engine
from spinach.brokers.redis import RedisBroker
from spinach.exc import BrokerConnectionError

pytestmark = pytest.mark.redis


def run_one_job(broker, recorder_for, namespace):
    spin = Engine(broker, namespace=namespace)
    spin.task(lambda x: None, name="hello")
    recorder = recorder_for(namespace)
    spin.schedule("hello", 42)
    spin.start_workers(number=1, block=False)
    try:
        recorder.wait_count("job_finished", 1)
    finally:
        spin.stop_workers()
    assert recorder.count("job_failed") == 0


@pytest.fixture
def server_factory(tmp_path):
    from spinach_test_support.redis_server import RedisServer

    servers = []

    def make(**options):
        server = RedisServer(tmp_path / f"s{len(servers)}", **options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def test_password_from_url(server_factory, recorder_for):
    server = server_factory(password="a-long-secret-password")
    assert server.url.startswith("redis://:a-long-secret-password@")
    run_one_job(RedisBroker.from_url(server.url), recorder_for, "pw")


def test_wrong_password_is_a_clear_error(server_factory):
    server = server_factory(password="right")
    broker = RedisBroker.from_url(
        f"redis://:wrong@127.0.0.1:{server.port}/0", connection_attempts=2
    )
    spin = Engine(broker, namespace="pw")
    spin.task(lambda: None, name="noop")
    with pytest.raises(BrokerConnectionError, match=r"(?i)password|auth"):
        spin.schedule("noop")


def test_tls_with_client_certificates(server_factory, recorder_for):
    server = server_factory(tls=True)
    assert server.url.startswith("rediss://")
    broker = RedisBroker.from_url(
        server.url,
        ssl_certfile=str(server.certs["client_cert"]),
        ssl_keyfile=str(server.certs["client_key"]),
        ssl_ca_certs=str(server.certs["ca_cert"]),
    )
    run_one_job(broker, recorder_for, "tls")


def test_tls_refuses_a_client_without_certificate(server_factory):
    server = server_factory(tls=True)
    broker = RedisBroker.from_url(
        server.url, ssl_ca_certs=str(server.certs["ca_cert"]), connection_attempts=2
    )
    spin = Engine(broker, namespace="tls")
    spin.task(lambda: None, name="noop")
    with pytest.raises(BrokerConnectionError):
        spin.schedule("noop")


def test_url_options_and_broker_options(redis_server):
    broker = RedisBroker.from_url(
        f"redis://127.0.0.1:{redis_server.port}/3",
        broker_dead_threshold_seconds=12,
        connection_attempts=2,
        socket_timeout=7,
    )
    kwargs = broker.redis.connection_pool.connection_kwargs
    assert (kwargs["port"], kwargs["db"], kwargs["socket_timeout"]) == (redis_server.port, 3, 7)
    assert broker.broker_dead_threshold_seconds == 12


def test_default_broker_targets_localhost_without_connecting():
    broker = RedisBroker()
    kwargs = broker.redis.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"]) == ("localhost", 6379)
    assert broker.broker_dead_threshold_seconds == 60


def test_ready_client_is_used_as_is(redis_server):
    client = redis_server.client()
    assert RedisBroker(client).redis is client


def test_warning_when_redis_may_evict_keys(server_factory, caplog):
    server = server_factory(extra=("--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"))
    broker = RedisBroker(server.client())
    broker.namespace = "evict"
    with caplog.at_level(logging.WARNING, logger="spinach.broker.redis"):
        broker.start()
    broker.stop()
    assert "maxmemory-policy is 'allkeys-lru'" in caplog.text


def test_no_warning_with_noeviction(redis_server, caplog):
    broker = RedisBroker(redis_server.client())
    broker.namespace = "noevict"
    with caplog.at_level(logging.WARNING, logger="spinach.broker.redis"):
        broker.start()
    broker.stop()
    assert "maxmemory-policy" not in caplog.text


@pytest.mark.parametrize("attempts", [0, -1])
def test_connection_attempts_must_be_positive(attempts):
    with pytest.raises(ValueError):
        RedisBroker(connection_attempts=attempts)
