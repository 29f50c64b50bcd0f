"""Worker processes and a ledger for the fault tests.

Workers run ``worker_app.py`` as real subprocesses against a broker Redis of
the test's own (AOF, fsync always), and record what they run on the
session's other Redis server, which faults never touch.
"""

from __future__ import annotations

import itertools
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from spinach import Engine, Tasks
from spinach.brokers.redis import RedisBroker

pytestmark = pytest.mark.redis

APP = Path(__file__).with_name("worker_app.py")
_ids = itertools.count()


def client_tasks() -> Tasks:
    """The tasks of worker_app.py, as a client needs them: same names and signatures."""
    tasks = Tasks()
    for name, retries in (
        ("hold", 3),
        ("hold_once", 0),
        ("record", 20),
        ("record_once", 0),
        ("arecord", 20),
    ):
        tasks.add(lambda token: None, name=name, max_retries=retries)
    tasks.add(lambda n: None, name="limited", max_retries=20, max_concurrency=2)
    tasks.add(lambda n: None, name="rated", max_retries=20, rate_limit="5/s")
    tasks.add(lambda token: None, name="hold_unique", max_retries=0, unique=True)
    tasks.add(lambda token: None, name="hold_unique_retry", max_retries=3, unique=True)
    # Scenarios of issue 11: tasks of worker_app.py --version 2, and tasks
    # terminating processes of their own.
    tasks.add(lambda token: None, name="new_task", max_retries=3)
    tasks.add(lambda token: None, name="new_task_once", max_retries=0)
    tasks.add(lambda kind: None, name="terminate_child", max_retries=0)
    tasks.add(lambda kind: None, name="aterminate_child", max_retries=0)
    return tasks


class Cluster:
    """The worker processes of one test, and its ledger."""

    def __init__(self, broker_server: Any, ledger_server: Any, tmp_path: Path) -> None:
        self.broker_server = broker_server
        self.ledger = ledger_server.client(socket_timeout=None)
        self.ledger_url = ledger_server.url
        n = next(_ids)
        self.namespace = f"faults{n}"
        self.key = f"ledger:{os.getpid()}:{n}"
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.processes: list[subprocess.Popen[str]] = []
        self._pending: list[str] = []

    def start_worker(
        self,
        *,
        threads: int = 4,
        threshold: float = 3.0,
        asyncio: bool = False,
        periodic: tuple[float, ...] = (),
        cron_every: tuple[float, ...] = (),
        queue: str = "spinach",
        timeout: float = 30.0,
        extra: Sequence[str] = (),
    ) -> subprocess.Popen[str]:
        args = [sys.executable, str(APP), "--url", self.broker_server.url,
                "--namespace", self.namespace, "--ledger-url", self.ledger_url,
                "--ledger", self.key, "--threads", str(threads), "--threshold", str(threshold),
                "--queue", queue]  # fmt: skip
        if asyncio:
            args.append("--asyncio")
        for period in periodic:
            args += ["--periodic", str(period)]
        for seconds in cron_every:
            args += ["--cron-every", str(seconds)]
        args += extra  # more options of worker_app.py, e.g. ("--skew", "30")
        log = open(self.logs / f"worker{len(self.processes)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        self.processes.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        assert line.strip() == "ready", f"worker did not start:\n{self.log_of(proc)}"
        return proc

    def log_of(self, proc: subprocess.Popen[str]) -> str:
        index = self.processes.index(proc)
        return (self.logs / f"worker{index}.log").read_text()

    def engine(self) -> Engine:
        spin = Engine(RedisBroker(self.broker_server.client()), namespace=self.namespace)
        spin.attach_tasks(client_tasks())
        return spin

    def records(self) -> list[str]:
        return [line.decode() for line in self.ledger.lrange(self.key, 0, -1)]

    def wait_event(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        """Wait for a ledger event matching ``predicate``, in whatever order events come.

        Events are consumed once: each returned event is not seen again, the
        others are kept for later waits.
        """
        for index, event in enumerate(self._pending):
            if predicate(event):
                return self._pending.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no matching event within {timeout} s; ledger: {self.records()}"
            item = self.ledger.blpop([f"{self.key}:events"], timeout=left)
            if item is None:
                continue
            event = item[1].decode()
            if predicate(event):
                return event
            self._pending.append(event)

    def ledger_time(self) -> float:
        """The ledger server's clock: faults and skewed workers never touch it."""
        seconds, micros = self.ledger.time()
        return float(seconds) + micros / 1e6

    def watch(self, seconds: float, bad: Callable[[str], bool]) -> str | None:
        """Watch the events for ``seconds`` of the ledger server's clock.

        Return the first event matching ``bad`` as soon as it comes (or is
        already pending), ``None`` if none came.  Other events are kept for
        :meth:`wait_event`.  A period in which something must *not* happen
        is measured this way, never slept through.
        """
        for index, event in enumerate(self._pending):
            if bad(event):
                return self._pending.pop(index)
        deadline = self.ledger_time() + seconds
        while True:
            left = deadline - self.ledger_time()
            if left <= 0:
                return None
            item = self.ledger.blpop([f"{self.key}:events"], timeout=max(left, 0.01))
            if item is None:
                continue
            event = item[1].decode()
            if bad(event):
                return event
            self._pending.append(event)

    def release(self, token: str) -> None:
        self.ledger.rpush(f"{self.key}:gate:{token}", "go")

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(fresh_redis: Any, redis_server: Any, tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(fresh_redis, redis_server, tmp_path)
    yield cluster
    cluster.close()
