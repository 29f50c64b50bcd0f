"""Backends the broker contract runs against.

A backend hands out brokers that share one storage (one ``MemoryStore``, one
Redis server), as worker processes of one deployment do, all driven by the
same manual clock.  Each broker package adds its backend here; the tests in
this folder are the same for all of them.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from spinach.brokers.base import Broker
from spinach.brokers.memory import MemoryBroker, MemoryStore
from spinach.clock import ManualClock


class MemoryBackend:
    name = "memory"

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.store = MemoryStore()
        self.brokers: list[Broker] = []

    def broker(self, namespace: str = "contract", **kwargs: Any) -> Broker:
        broker = MemoryBroker(store=self.store, clock=self.clock, **kwargs)
        broker.namespace = namespace
        self.brokers.append(broker)
        return broker

    def inject(self, broker: Broker, queue: str, payload: bytes) -> None:
        assert isinstance(broker, MemoryBroker)
        broker.inject_raw_payload(queue, payload)

    def close(self) -> None:
        for broker in self.brokers:
            broker.stop()


class RedisBackend:
    """Brokers on one private Redis server, in namespaces unique to the test."""

    name = "redis"

    def __init__(self, clock: ManualClock, client_factory: Any, unique: str) -> None:
        self.clock = clock
        self.client_factory = client_factory
        self.unique = unique
        self.brokers: list[Broker] = []

    def broker(self, namespace: str = "contract", **kwargs: Any) -> Broker:
        from spinach.brokers.redis import RedisBroker

        broker = RedisBroker(self.client_factory(), clock=self.clock, **kwargs)
        broker.namespace = f"{self.unique}-{namespace}"
        self.brokers.append(broker)
        return broker

    def inject(self, broker: Broker, queue: str, payload: bytes) -> None:
        broker.inject_raw_payload(queue, payload)  # type: ignore[attr-defined]

    def close(self) -> None:
        for broker in self.brokers:
            broker.stop()
            broker.flush()


# Namespaces unique to each test, even across the copies of this module that
# other test folders load (tests/sre9, tests/sre10): a counter alone repeats.
_unique = (f"{uuid.uuid4().hex[:6]}{n}" for n in itertools.count())

BACKENDS = [
    "memory",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("redis62", marks=[pytest.mark.redis, pytest.mark.redis62]),
    pytest.param("cluster", marks=pytest.mark.redis),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, clock: ManualClock) -> Iterator[Any]:
    if request.param == "memory":
        instance: Any = MemoryBackend(clock)
    elif request.param == "redis":
        server = request.getfixturevalue("redis_server")
        instance = RedisBackend(clock, server.client, f"c{next(_unique)}")
    elif request.param == "redis62":
        server = request.getfixturevalue("redis62_server")
        instance = RedisBackend(clock, server.client, f"s{next(_unique)}")
    elif request.param == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        instance = RedisBackend(clock, cluster.client, f"k{next(_unique)}")
    else:  # pragma: no cover
        raise AssertionError(request.param)
    yield instance
    instance.close()


@pytest.fixture
def broker(backend: Any) -> Broker:
    """A started broker: a worker process of the namespace ``contract``."""
    b = backend.broker()
    b.start()
    return b
