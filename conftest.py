"""Fixtures shared by every test suite of the monorepo.

Tests never sleep to wait for something: they wait on a condition with a
deadline (:class:`SignalRecorder`), and time-dependent behaviour runs on a
:class:`~spinach.clock.ManualClock`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from spinach import Engine, ManualClock, MemoryBroker, signals
from spinach.job import Job

SIGNALS = (
    "job_started",
    "job_finished",
    "job_schedule_retry",
    "job_failed",
    "worker_started",
    "worker_terminated",
)


class SignalRecorder:
    """Records the signals of one namespace and lets tests wait for them."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._cond = threading.Condition()
        self._receivers = []
        for name in SIGNALS:
            receiver = self._receiver(name)
            getattr(signals, name).connect_via(namespace, weak=False)(receiver)
            self._receivers.append((name, receiver))

    def _receiver(self, name: str) -> Callable[..., None]:
        def receive(sender: str, **kwargs: Any) -> None:
            with self._cond:
                self.events.append((name, kwargs))
                self._cond.notify_all()

        return receive

    def disconnect(self) -> None:
        for name, receiver in self._receivers:
            getattr(signals, name).disconnect(receiver)

    def jobs(self, signal: str, task_name: str | None = None) -> list[Job]:
        with self._cond:
            return [
                kw["job"]
                for name, kw in self.events
                if name == signal and (task_name is None or kw["job"].task_name == task_name)
            ]

    def count(self, signal: str, task_name: str | None = None) -> int:
        return len(self.jobs(signal, task_name))

    def errors(self, signal: str) -> list[BaseException]:
        with self._cond:
            return [kw["err"] for name, kw in self.events if name == signal]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_count(
        self, signal: str, count: int, task_name: str | None = None, timeout: float = 10.0
    ) -> None:
        """Wait until ``signal`` was sent ``count`` times; fail the test otherwise."""
        ok = self.wait_for(lambda: self._count_locked(signal, task_name) >= count, timeout)
        assert ok, (
            f"{signal} sent {self._count_locked(signal, task_name)} times for "
            f"{task_name or 'any task'}, expected {count} within {timeout} s"
        )

    def _count_locked(self, signal: str, task_name: str | None) -> int:
        return sum(
            1
            for name, kw in self.events
            if name == signal and (task_name is None or kw["job"].task_name == task_name)
        )


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test advances it."""
    return ManualClock()


_namespace_counter = iter(range(1_000_000))


@pytest.fixture
def namespace() -> str:
    """A namespace unique to the test, so that signals never cross tests."""
    return f"t{next(_namespace_counter)}"


@pytest.fixture
def recorder(namespace: str) -> Iterator[SignalRecorder]:
    rec = SignalRecorder(namespace)
    yield rec
    rec.disconnect()


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    """Engines registered here have their workers stopped after the test."""
    created: list[Engine] = []
    yield created
    for engine in created:
        engine.stop_workers()


@pytest.fixture
def spin(namespace: str, clock: ManualClock, engines: list[Engine]) -> Engine:
    """An Engine on a MemoryBroker driven by the manual clock."""
    engine = Engine(MemoryBroker(clock=clock), namespace=namespace)
    engines.append(engine)
    return engine


@pytest.fixture
def real_spin(namespace: str, engines: list[Engine]) -> Engine:
    """An Engine on a MemoryBroker with the real clock."""
    engine = Engine(MemoryBroker(), namespace=namespace)
    engines.append(engine)
    return engine
