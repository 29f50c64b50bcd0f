"""An Engine on each broker, driven by a manual clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from spinach import Engine, ManualClock, MemoryBroker

_ids = itertools.count()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def broker_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_spin(broker_kind: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    made: list[Engine] = []

    def make(clock: ManualClock | None = None) -> Engine:
        namespace = f"e2e{next(_ids)}"
        if broker_kind == "memory":
            broker: Any = MemoryBroker(clock=clock)
        else:
            from spinach.brokers.redis import RedisBroker

            server = request.getfixturevalue("redis_server")
            broker = RedisBroker(server.client(), clock=clock)
        spin = Engine(broker, namespace=namespace)
        made.append(spin)
        return spin

    yield make
    for spin in made:
        spin.stop_workers()
        spin.broker.flush()
