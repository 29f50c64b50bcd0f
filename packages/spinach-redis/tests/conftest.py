"""Fixtures of the spinach-redis tests (the Redis servers come from the root conftest)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from spinach import Engine
from spinach.brokers.redis import RedisBroker

pytestmark = pytest.mark.redis

_names = itertools.count()


@pytest.fixture
def unique_ns() -> str:
    return f"r{next(_names)}"


@pytest.fixture
def make_engine(redis_server: Any, unique_ns: str) -> Iterator[Any]:
    """Engines on RedisBroker, stopped and flushed after the test."""
    engines: list[Engine] = []

    def make(namespace: str | None = None, server: Any = None, **kwargs: Any) -> Engine:
        server = server or redis_server
        broker = RedisBroker(server.client(), **kwargs)
        engine = Engine(broker, namespace=namespace or unique_ns)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.stop_workers()
        try:
            engine.broker.flush()
        except Exception:  # the server may be gone on purpose
            pass
