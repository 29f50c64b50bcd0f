"""Fixtures shared by every test suite of the monorepo.

Tests never sleep to wait for something: they wait on a condition with a
deadline (:class:`SignalRecorder`), and time-dependent behaviour runs on a
:class:`~spinach.clock.ManualClock`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from spinach import Engine, ManualClock, MemoryBroker, signals
from spinach.job import Job


def _load_support(name: str) -> Any:
    """Import a module of tests/support as ``spinach_test_support.<name>``.

    The test folders are not packages (pytest runs with --import-mode=importlib),
    so the support modules are registered under a package of their own.
    """
    if "spinach_test_support" not in sys.modules:
        package = types.ModuleType("spinach_test_support")
        package.__path__ = []
        sys.modules["spinach_test_support"] = package
    path = Path(__file__).parent / "tests" / "support" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"spinach_test_support.{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


redis_support = _load_support("redis_server")
_load_support("redis_tools")
_load_support("conftests")
postgres_support = _load_support("postgres_server")

# -- tests that run alone ------------------------------------------------------
#
# scripts/run-tests runs the suite on several processes (pytest-xdist), then
# the tests marked ``serial`` one at a time, with nothing else running: they
# bound a wall-clock time that the load of other tests would lengthen.


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--serial-tests",
        choices=("include", "exclude", "only"),
        default="include",
        help="run the tests marked serial with the others (include, the default), "
        "not at all (exclude), or alone (only); see scripts/run-tests",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mode = config.getoption("serial_tests")
    if mode == "include":
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        serial = item.get_closest_marker("serial") is not None
        (kept if serial == (mode == "only") else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


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

    def worker_names(self, signal: str) -> list[str]:
        with self._cond:
            return [kw["worker_name"] for name, kw in self.events if name == signal]

    def count(self, signal: str, task_name: str | None = None) -> int:
        if signal.startswith("worker_"):
            return len(self.worker_names(signal))
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


def _wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Wait until ``predicate()`` holds, re-checking every few milliseconds; fail after ``timeout``.

    For state that sends no notification (a broker's storage seen from
    outside): the check is repeated, never a fixed delay assumed enough.
    """
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not true within {timeout} s: {what or predicate}"
        pause.wait(0.005)


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """``wait_until(predicate, timeout=10.0, what="")``: see :func:`_wait_until`."""
    return _wait_until


def _let_time_pass(clock: ManualClock, seconds: float, step: float, sleepers: int = 1) -> None:
    """Advance ``clock`` by ``seconds`` in steps, letting the ``sleepers`` running
    arbiters take their turn (heartbeat, recovery) at each step.

    Recovery needs it: only a worker whose own heartbeats went through for a
    whole threshold may declare another dead (a single jump of the clock is
    an outage as far as it knows).
    """
    for _ in range(max(1, round(seconds / step))):
        assert clock.wait_for_sleepers(sleepers), "the workers did not go back to sleep"
        clock.advance(step)
    assert clock.wait_for_sleepers(sleepers)


@pytest.fixture
def let_time_pass() -> Callable[..., None]:
    """``let_time_pass(clock, seconds, step, sleepers=1)``: see :func:`_let_time_pass`."""
    return _let_time_pass


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
def recorder_for() -> Iterator[Callable[[str], SignalRecorder]]:
    """Make recorders for given namespaces; they are disconnected after the test."""
    made: list[SignalRecorder] = []

    def make(namespace: str) -> SignalRecorder:
        rec = SignalRecorder(namespace)
        made.append(rec)
        return rec

    yield make
    for rec in made:
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


# -- Redis --------------------------------------------------------------------


def start_redis(workdir: Path, **options: Any) -> Any:
    """Start a private redis-server; fail (never skip) with how to install it."""
    try:
        return redis_support.RedisServer(workdir, **options).start()
    except redis_support.RedisServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def free_port() -> Iterator[Callable[[], int]]:
    """``free_port()``: a free TCP port, reserved until the end of the test.

    No server of another test (of this process or of another: pytest-xdist
    workers, other runs) is started on it meanwhile, so the test may start a
    server of its own there, or keep it as a port where nothing listens.
    """
    reservations: list[Any] = []

    def reserve() -> int:
        reservations.append(redis_support.reserve_port())
        return int(reservations[-1].port)

    yield reserve
    for reservation in reservations:
        reservation.release()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One private redis-server for the session; tests use unique namespaces."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis62_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A private redis-server 6.2, the oldest Redis Spinach supports."""
    try:
        binary = redis_support.redis62_binary()
    except redis_support.RedisServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    server = start_redis(tmp_path_factory.mktemp("redis62"), binary=binary)
    yield server
    server.close()


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[Any]:
    """A private redis-server of the test's own, with AOF, to crash and restart."""
    server = start_redis(tmp_path / "redis", appendonly=True, fsync_always=True)
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Three private redis-server processes joined into a Redis Cluster."""
    try:
        cluster = redis_support.RedisCluster(tmp_path_factory.mktemp("cluster")).start()
    except redis_support.RedisServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    yield cluster
    cluster.close()


# -- PostgreSQL ---------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One private PostgreSQL server for the session (see tests/support/postgres_server.py).

    Skipped where the PostgreSQL binaries are missing, unless
    SPINACH_REQUIRE_POSTGRES=1: then it fails, so that the
    tests on PostgreSQL cannot be skipped there unnoticed.  Any other
    problem (initdb or the server failing) is an error, never a skip.
    """
    try:
        server = postgres_support.PostgresServer()
    except postgres_support.PostgresMissing as exc:
        if os.environ.get("SPINACH_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{exc} (SPINACH_REQUIRE_POSTGRES=1: a failure, not a skip)", pytrace=False)
        pytest.skip(str(exc))
    server.start()
    yield server
    server.close()
