"""A private PostgreSQL server for tests, never the machine's own.

:class:`PostgresServer` runs ``initdb`` into a new temporary folder and a
``postgres`` on it that listens only on a Unix socket in that folder (no TCP:
nothing else can reach it, and no port can clash), with ``fsync`` off.  It is
ready when its log says so, not when a poll succeeds.

The server is run by a small watchdog process, which holds the only
reference to it: the watchdog stops the server (fast shutdown) and deletes
the folder as soon as the pipe from the test process closes, whether
:meth:`PostgresServer.close` closed it or the test process died.  The
watchdog has a session of its own, so a signal to the test process group
(Ctrl-C, a runner killing it) does not kill it before it has cleaned up; and
on Linux, if the watchdog itself is killed, the kernel kills the server
(``PR_SET_PDEATHSIG``).

PostgreSQL refuses to run as root: as root, the server runs as the
``postgres`` user of the machine (``nobody`` if there is none), and its
folder belongs to that user.

This module has no dependency on pytest; the root ``conftest.py`` turns it
into a fixture.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Optional

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, postgres) not found: the tests on PostgreSQL "
    "need them. Install them with `sudo apt-get install -y postgresql` "
    "(Debian/Ubuntu; the tests start a private server of their own and never use the "
    "machine's) or `brew install postgresql@16` (macOS), or set SPINACH_POSTGRES_BIN to "
    "the folder holding initdb and postgres."
)

#: The superuser created by initdb, with trust authentication (the socket's
#: folder is readable by its owner only).
USER = "spinach"
READY = "database system is ready to accept connections"


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries are available."""


def postgres_bindir() -> Path:
    """The folder holding ``initdb`` and ``postgres``.

    SPINACH_POSTGRES_BIN if set, else the PATH, else where Debian/Ubuntu
    (``/usr/lib/postgresql/<version>/bin``, not on PATH) and Homebrew put
    them, the newest version first.
    """
    explicit = os.environ.get("SPINACH_POSTGRES_BIN")
    if explicit:
        candidates = [Path(explicit)]
    else:
        candidates = []
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
        patterns = [
            "/usr/lib/postgresql/*/bin",
            "/opt/homebrew/opt/postgresql@*/bin",
            "/usr/local/opt/postgresql@*/bin",
        ]
        found = [Path(p) for pattern in patterns for p in glob.glob(pattern)]
        candidates += sorted(found, key=_version, reverse=True)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in ("initdb", "postgres")):
            return folder
    raise PostgresMissing(INSTALL_HINT)


def _version(folder: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", str(folder))) or (0,)


def _server_user() -> Optional[str]:
    """The user to run PostgreSQL as: None for the current one, unless it is root."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("PostgreSQL cannot run as root, and there is no postgres or nobody user")


def _free_port() -> int:
    """A port number no local server uses: it names the socket (there is no TCP)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The watchdog: single-threaded until the server is started, so preexec_fn is
# safe in it (it is not in the test process, which has threads); the server is
# started by its main thread, which PR_SET_PDEATHSIG ties it to.  The output
# of initdb and of the server goes to its stdout, which the test process reads.
WATCHDOG = r"""
import ctypes, json, os, shutil, signal, subprocess, sys, threading

cfg = json.loads(sys.argv[1])
drop = {}
if cfg["user"]:
    import pwd
    entry = pwd.getpwnam(cfg["user"])
    drop = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
env = {**os.environ, "LC_ALL": "C", "LANG": "C"}


def die_with_watchdog():
    # Runs in the child after it became the server's user (the kernel clears
    # the setting when credentials change): SIGKILL when the watchdog dies.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


server = None
try:
    init = subprocess.run(
        [os.path.join(cfg["bindir"], "initdb"), "-D", cfg["data"], "-U", cfg["superuser"],
         "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env, **drop,
    )
    if init.returncode:
        print(init.stdout, "\ninitdb failed", flush=True)
        sys.exit(1)
    server = subprocess.Popen(
        [os.path.join(cfg["bindir"], "postgres"), "-D", cfg["data"], "-p", str(cfg["port"]),
         "-k", cfg["socket_dir"],
         "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
         "-c", "full_page_writes=off", "-c", "shared_buffers=16MB",
         "-c", "max_connections=50", "-c", "lc_messages=C", "-c", "logging_collector=off"],
        stdin=subprocess.DEVNULL, env=env, preexec_fn=die_with_watchdog, **drop,
    )
    # Until the test process closes the pipe (or dies), or the server ends on
    # its own (then the test process sees this one end, with the log).
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    threading.Thread(target=lambda: (server.wait(), done.set()), daemon=True).start()
    done.wait()
    if server.poll() is not None:
        print(f"postgres exited with code {server.returncode}", flush=True)
        sys.exit(1)
finally:
    if server is not None and server.poll() is None:
        server.send_signal(signal.SIGINT)  # fast shutdown: clients disconnected
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    shutil.rmtree(cfg["workdir"], ignore_errors=True)
"""


class PostgresServer:
    """One private PostgreSQL server, reached through a Unix socket in :attr:`host`.

    Connect as :data:`USER` (a superuser, no password) to :attr:`host` (the
    socket's folder) and :attr:`port`.
    """

    def __init__(self, bindir: Optional[Path] = None) -> None:
        self.bindir = bindir or postgres_bindir()
        self.user = USER
        self.port = _free_port()
        self.workdir: Optional[Path] = None
        self.process: Optional[subprocess.Popen[str]] = None
        self._ready = False
        self.log: deque[str] = deque(maxlen=500)

    @property
    def host(self) -> str:
        assert self.workdir is not None, "the server is not started"
        return str(self.workdir)

    def start(self, timeout: float = 60.0) -> PostgresServer:
        run_as = _server_user()
        if run_as:
            _check_reachable(Path(tempfile.gettempdir()), run_as)
        self.workdir = Path(tempfile.mkdtemp(prefix="spinach-pg-"))
        if run_as:
            import pwd

            entry = pwd.getpwnam(run_as)
            try:
                os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
            except OSError:
                shutil.rmtree(self.workdir)
                raise
        config = {
            "bindir": str(self.bindir),
            "workdir": str(self.workdir),
            "data": str(self.workdir / "data"),
            "socket_dir": str(self.workdir),
            "port": self.port,
            "superuser": self.user,
            "user": run_as,
        }
        ready = threading.Event()
        self._ready = False
        self.process = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._drain, args=(self.process, ready), daemon=True).start()
        if not ready.wait(timeout) or not self._ready:
            self.close()
            raise RuntimeError("PostgreSQL did not start:\n" + "\n".join(self.log))
        return self

    def _drain(self, process: subprocess.Popen[str], ready: threading.Event) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.log.append(line.rstrip())
            if READY in line:
                self._ready = True
                ready.set()
        ready.set()  # the watchdog ended: start() fails at once

    def close(self, timeout: float = 60.0) -> None:
        """Stop the server and delete its folder (the watchdog does both, then exits)."""
        if self.process is None:
            return
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RuntimeError("PostgreSQL did not stop:\n" + "\n".join(self.log)) from None


def _check_reachable(folder: Path, user: str) -> None:
    """Fail clearly if ``user`` cannot reach ``folder`` (a private TMPDIR of root's)."""
    for parent in [folder, *folder.parents]:
        if not parent.stat().st_mode & 0o001:
            raise RuntimeError(
                f"PostgreSQL runs as {user!r} (not as root), which cannot enter {parent}: "
                "set TMPDIR to a folder every user can enter, such as /tmp"
            )
