"""Fixtures of the fourth SRE review (tests/sre4): results, timeouts, failed jobs.

Reuses tests/sre3's conftest (the ledger of worker processes and the
switching proxy of tests/sre) by importing it; most tests here run an
Engine in the test process on a private redis-server.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from spinach import Engine
from spinach.brokers.redis import RedisBroker

_ids = itertools.count()


@pytest.fixture
def make_engine(redis_server: Any) -> Iterator[Any]:
    """Engines on the session's redis-server, each in a namespace of its own."""
    made: list[Engine] = []

    def make(**options: Any) -> Engine:
        namespace = f"sre4-{uuid.uuid4().hex[:8]}-{next(_ids)}"
        spin = Engine(RedisBroker(redis_server.client()), namespace=namespace, **options)
        made.append(spin)
        return spin

    yield make
    for spin in made:
        spin.stop_workers()
        spin.broker.flush()
