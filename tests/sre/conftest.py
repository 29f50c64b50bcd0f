"""Fixtures of the SRE review tests: worker processes, a ledger, a proxy.

Workers run ``sre_worker.py`` as real subprocesses; what they run is written
to a ledger on the session's Redis server, which faults never touch.
"""

from __future__ import annotations

import itertools
import os
import select
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from spinach import Engine, Tasks
from spinach.brokers.redis import RedisBroker

APP = Path(__file__).with_name("sre_worker.py")
#: The worker of tests/faults, for its periodic tasks (--periodic SECONDS).
FAULTS_APP = Path(__file__).parents[1] / "faults" / "worker_app.py"
_ids = itertools.count()


def client_tasks() -> Tasks:
    """The tasks of sre_worker.py, as a producer needs them (same names and options)."""
    tasks = Tasks()
    for name, retries in (("gated", 3), ("gated_once", 0), ("gated_fail", 3), ("new_once", 0)):
        tasks.add(lambda token: None, name=name, max_retries=retries)
    tasks.add(lambda token: None, name="gated_limited", max_retries=3, max_concurrency=1)
    return tasks


class Ledger:
    """Worker processes of one test, and the ledger of what they did."""

    def __init__(self, ledger_server: Any, tmp_path: Path) -> None:
        self.ledger = ledger_server.client(socket_timeout=None)
        self.ledger_url = ledger_server.url
        # Random too: tests/sre2 loads this module a second time, with a
        # counter of its own, in the same process.
        n = f"{next(_ids)}{uuid.uuid4().hex[:6]}"
        self.namespace = f"sre{os.getpid()}x{n}"
        self.key = f"sreledger:{os.getpid()}:{n}"
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.processes: list[subprocess.Popen[str]] = []
        self._pending: list[str] = []

    def start_worker(
        self,
        url: str,
        *,
        threads: int = 4,
        threshold: float = 3.0,
        queue: str = "spinach",
        version: int = 1,
        timeout: float = 30.0,
        app: Path = APP,
        extra: tuple[str, ...] = (),
    ) -> subprocess.Popen[str]:
        args = [sys.executable, str(app), "--url", url, "--namespace", self.namespace,
                "--ledger-url", self.ledger_url, "--ledger", self.key,
                "--threads", str(threads), "--threshold", str(threshold),
                "--queue", queue, "--version", str(version), *extra]  # fmt: skip
        log = open(self.logs / f"worker{len(self.processes)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        self.processes.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        assert line.strip() == "ready", f"worker did not start:\n{self.log_of(proc)}"
        return proc

    def log_of(self, proc: subprocess.Popen[str]) -> str:
        return (self.logs / f"worker{self.processes.index(proc)}.log").read_text()

    def engine(self, client: Any, **options: Any) -> Engine:
        spin = Engine(RedisBroker(client), namespace=self.namespace, **options)
        spin.attach_tasks(client_tasks())
        return spin

    def records(self) -> list[str]:
        return [line.decode() for line in self.ledger.lrange(self.key, 0, -1)]

    def wait_event(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
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

    def watch(self, seconds: float, bad: Callable[[str], bool]) -> str | None:
        """The first event matching ``bad`` within ``seconds`` (ledger's clock), or None."""
        for index, event in enumerate(self._pending):
            if bad(event):
                return self._pending.pop(index)
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            item = self.ledger.blpop([f"{self.key}:events"], timeout=max(left, 0.01))
            if item is None:
                continue
            event = item[1].decode()
            if bad(event):
                return event
            self._pending.append(event)

    def release(self, run: str) -> None:
        """Let run ``token#n`` of a gated task finish."""
        self.ledger.rpush(f"{self.key}:gate:{run}", "go")

    def command(self, proc: subprocess.Popen[str], text: str) -> None:
        self.ledger.rpush(f"{self.key}:cmd:{proc.pid}", text)

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def ledger(redis_server: Any, tmp_path: Path) -> Iterator[Ledger]:
    cluster = Ledger(redis_server, tmp_path)
    yield cluster
    cluster.close()


class SwitchProxy:
    """A TCP proxy to Redis, for faults on the network path of one client.

    - :meth:`drop_reply_containing` swallows the first reply (chunk) from
      Redis that contains some bytes, and cuts that connection: the command
      was applied, the client never hears so;
    - :meth:`retarget` sends new connections to another server, and
      :meth:`cut_all` cuts the open ones: what a failover does to clients
      behind a virtual IP or a sentinel-aware proxy.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._needle: bytes | None = None
        self.dropped = threading.Event()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def drop_reply_containing(self, needle: bytes) -> None:
        with self._lock:
            self.dropped.clear()
            self._needle = needle

    def retarget(self, port: int) -> None:
        with self._lock:
            self.target_port = port

    def cut_all(self) -> None:
        with self._lock:
            socks, self._open = self._open, []
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                port = self.target_port
            try:
                server = socket.create_connection(("127.0.0.1", port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if replies:
                    with self._lock:
                        hit = self._needle is not None and self._needle in data
                        if hit:
                            self._needle = None
                    if hit:
                        self.dropped.set()
                        break  # applied by Redis; the reply is lost
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self) -> None:
        self._listener.close()
        self.cut_all()


@pytest.fixture
def switch_proxy() -> Iterator[Callable[[int], SwitchProxy]]:
    made: list[SwitchProxy] = []

    def make(port: int) -> SwitchProxy:
        proxy = SwitchProxy(port)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()
