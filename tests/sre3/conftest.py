"""Fixtures of the third SRE review (tests/sre3): job records and cancellation.

Reuses the worker-process ledger and the switching proxy of tests/sre (loaded
from its conftest: the test folders are not packages), with a worker app of
its own, ``sre3_worker.py``, whose tasks are tracked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from spinach_test_support.conftests import load_conftest

from spinach import Engine, Tasks
from spinach.brokers.redis import RedisBroker

sre = load_conftest("sre")
Ledger = sre.Ledger
SwitchProxy = sre.SwitchProxy

#: The worker process of these tests.
APP = Path(__file__).with_name("sre3_worker.py")


def client_tasks() -> Tasks:
    """The tasks of sre3_worker.py, as a producer declares them."""
    tasks = Tasks()
    tasks.add(lambda token: None, name="coop", max_retries=3, track=True)
    tasks.add(lambda token: None, name="once", max_retries=3, track=True)
    return tasks


def producer(client: Any, namespace: str, **options: Any) -> Engine:
    spin = Engine(RedisBroker(client), namespace=namespace, **options)
    spin.attach_tasks(client_tasks())
    return spin


class Sre3Ledger(Ledger):  # type: ignore[misc,valid-type]
    """The ledger of tests/sre, starting sre3_worker.py by default."""

    def start_worker(self, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("app", APP)
        return super().start_worker(url, **kwargs)


@pytest.fixture
def ledger(redis_server: Any, tmp_path: Path) -> Iterator[Any]:
    cluster = Sre3Ledger(redis_server, tmp_path)
    yield cluster
    cluster.close()


@pytest.fixture
def switch_proxy() -> Iterator[Any]:
    made: list[Any] = []

    def make(port: int) -> Any:
        proxy = SwitchProxy(port)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()
