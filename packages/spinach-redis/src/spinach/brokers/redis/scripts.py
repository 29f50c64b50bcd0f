"""The Lua scripts of the broker, shipped as package data, and how they run.

Each script is the paragraphs of ``scripts/_common.lua`` it uses
(:func:`prelude_for`) followed by its own file.  Scripts run
with EVALSHA; when the server does not know a script (after a restart, a
failover, or on a new cluster node) it runs once with EVAL, which caches it.

On Redis 7 they can run as *functions* instead (``RedisBroker(...,
functions=True)``): the scripts of this version form one library,
``spinach_<digest>`` (versions side by side during a deploy never clash),
loaded once with ``FUNCTION LOAD`` (:meth:`Scripts.library_code`,
:meth:`spinach.brokers.redis.RedisBroker.install_functions`) and called
with ``FCALL``.  The workers' ACL user then needs ``+fcall`` and neither
``+eval`` nor ``+evalsha``: whoever holds its credentials can run these
functions and no Lua of their own.

Every job goes through a script call, so the call itself is a hot path.  On
a plain ``redis.Redis`` client, scripts run on connections the runner keeps
for itself, made with the client's own connection settings (address, TLS,
credentials, protocol): this skips the per-command layers of the client
(retries, which the broker does itself with idempotency; instrumentation;
pool bookkeeping), which cost more than the round trip on a local server.
Other clients (``RedisCluster``, which routes each call by key) are called
through their public API.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from importlib import resources
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import redis
from redis.exceptions import NoScriptError, ResponseError

_hiredis_pack: Optional[Callable[[Tuple[Any, ...]], bytes]]
try:  # the C packer of the `hiredis` extra, when installed
    from hiredis import (  # type: ignore[import-not-found,unused-ignore]
        pack_command as _hiredis_pack_command,
    )

    _hiredis_pack = _hiredis_pack_command
except ImportError:  # pragma: no cover - depends on the environment
    _hiredis_pack = None

__all__ = ["SCRIPT_NAMES", "Scripts"]

SCRIPT_NAMES = (
    "ack",
    "cancel",
    "commit_batch",
    "enqueue",
    "exchange",
    "fetch",
    "heartbeat",
    "move_future",
    "plan_cron",
    "purge_failed",
    "register",
    "register_periodic",
    "reject_running",
    "requeue_failed",
    "set_concurrency",
    "stage_batch",
    "unregister",
)


def _load_sources() -> Dict[str, str]:
    folder = resources.files(__package__).joinpath("scripts")
    common = folder.joinpath("_common.lua").read_text("utf-8")
    sources = {}
    for name in SCRIPT_NAMES:
        body = folder.joinpath(f"{name}.lua").read_text("utf-8")
        sources[name] = prelude_for(common, body) + "\n" + body
    return sources


def prelude_for(common: str, body: str) -> str:
    """The paragraphs of ``_common.lua`` that ``body`` needs, in their order.

    Redis runs the whole script text on every call, and each ``local
    function`` of the prelude is a closure built anew each time: a script
    keeps the opening paragraph (``P``, ``NOTES``) and the functions it
    calls, directly or through another function, and nothing else.
    """
    paragraphs = common.split("\n\n")
    defined = {}
    for index, paragraph in enumerate(paragraphs):
        match = re.search(r"^local function (\w+)", paragraph, re.M)
        if match:
            defined[match.group(1)] = index
    needed = {0}
    pending = [body]
    while pending:
        text = pending.pop()
        for function, index in defined.items():
            if index not in needed and re.search(rf"\b{function}\(", text):
                needed.add(index)
                pending.append(paragraphs[index])
    return "\n\n".join(paragraphs[i] for i in sorted(needed))


class Scripts:
    """Runs the broker's scripts by name on one Redis client."""

    def __init__(self, client: Any = None, functions: bool = False) -> None:
        self.sources = _load_sources()
        self.shas = {
            name: hashlib.sha1(source.encode("utf-8")).hexdigest()
            for name, source in self.sources.items()
        }
        digest = hashlib.sha1("".join(self.shas[n] for n in SCRIPT_NAMES).encode()).hexdigest()
        #: Name of the library of functions of this version of the scripts.
        self.library = f"spinach_{digest[:16]}"
        self.functions = functions
        self._client = client
        self._connections = _Connections.for_client(client) if client is not None else None

    def after_fork(self) -> None:
        """In a forked child: the parent's connections, and their lock, are not ours."""
        if self._connections is not None:
            self._connections = _Connections(self._connections.pool)

    def function_name(self, name: str) -> str:
        """The name of the function of the script ``name``."""
        return f"{self.library}_{name}"

    def library_code(self) -> str:
        """The library of every script as Redis 7 functions, for ``FUNCTION LOAD``."""
        parts = [f"#!lua name={self.library}"]
        for name in SCRIPT_NAMES:
            parts.append(
                f"redis.register_function('{self.function_name(name)}', function(KEYS, ARGV)\n"
                f"{self.sources[name]}\nend)"
            )
        return "\n".join(parts) + "\n"

    def load_library(self, client: Any) -> str:
        """Load (or replace) this version's library on the server; return its name."""
        client.function_load(self.library_code(), replace=True)
        return self.library

    def run(self, client: Any, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a script with EVALSHA (falling back to EVAL), or its function with FCALL."""
        if self.functions:
            return self._call_function(client, name, keys, args)
        if self._connections is not None and client is self._client:
            return self._connections.run(
                self.shas[name], self.sources[name], len(keys), [*keys, *args]
            )
        try:
            return client.evalsha(self.shas[name], len(keys), *keys, *args)
        except NoScriptError:
            return client.eval(self.sources[name], len(keys), *keys, *args)

    def _call_function(
        self, client: Any, name: str, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        function = self.function_name(name)
        try:
            return client.fcall(function, len(keys), *keys, *args)
        except ResponseError as exc:
            if "unknown command" in str(exc).lower():
                raise ResponseError(
                    "Redis functions (RedisBroker(functions=True)) need Redis 7; this server "
                    f"is older: use functions=False ({exc})"
                ) from exc
            if "Function not found" not in str(exc):
                raise
        # This version's library is not loaded (a new version, a restarted
        # server): load it if this user may, else say who must.
        try:
            self.load_library(client)
        except ResponseError as exc:
            raise ResponseError(
                f"the Redis functions of this version of Spinach ({self.library}) are not "
                "loaded, and this user may not load them: load them once with "
                "RedisBroker.install_functions(admin_client) "
                f"(FUNCTION LOAD refused: {exc})"
            ) from exc
        return client.fcall(function, len(keys), *keys, *args)

    def close(self) -> None:
        """Close the connections kept for scripts."""
        if self._connections is not None:
            self._connections.close()


class _Connections:
    """A LIFO of connections made with a client's settings, safe across fork()."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._pool = pool
        self._idle: List[Any] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @classmethod
    def for_client(cls, client: Any) -> _Connections | None:
        pool = getattr(client, "connection_pool", None)
        if (
            type(client) is not redis.Redis
            or getattr(client, "connection", None) is not None  # single connection client
            or not hasattr(pool, "connection_class")
            or not isinstance(getattr(pool, "connection_kwargs", None), dict)
        ):
            return None
        return cls(pool)

    def _acquire(self) -> Any:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's sockets are not ours
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return self._pool.connection_class(**self._pool.connection_kwargs)

    def _release(self, connection: Any) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._idle.append(connection)

    def run(self, sha: str, source: str, numkeys: int, keys_and_args: List[Any]) -> Any:
        connection = self._acquire()
        try:
            connection.send_packed_command([_pack(b"EVALSHA", sha, numkeys, keys_and_args)])
            try:
                reply = connection.read_response()
            except NoScriptError:
                connection.send_packed_command([_pack(b"EVAL", source, numkeys, keys_and_args)])
                reply = connection.read_response()
        except ResponseError:
            self._release(connection)  # a complete reply: the connection is sound
            raise
        except BaseException:
            connection.disconnect()  # unknown protocol state: reconnect on next use
            self._release(connection)
            raise
        self._release(connection)
        return reply

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.disconnect()


def _pack(command: bytes, script: str, numkeys: int, values: List[Any]) -> bytes:
    """The RESP request of a script call; values are str, bytes, int or float.

    Keys, names and payloads are ASCII (names are validated, payloads are
    JSON with non-ASCII escaped), so UTF-8 is the encoding of every client.
    """
    if _hiredis_pack is not None:
        packed: bytes = _hiredis_pack((command, script, numkeys, *values))
        return packed
    parts = [b"*%d\r\n$%d\r\n%s\r\n" % (len(values) + 3, len(command), command)]
    for value in (script, numkeys, *values):
        if isinstance(value, bytes):
            data = value
        elif isinstance(value, str):
            data = value.encode()
        elif isinstance(value, float):
            data = repr(value).encode()
        else:
            data = b"%d" % value
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)
