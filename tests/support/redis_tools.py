"""Observing and disturbing the traffic between a client and Redis.

- :class:`CommandMonitor` counts, with ``MONITOR``, the commands each client
  sends over the network (commands run inside Lua scripts are told apart).
- :class:`ReplyDroppingProxy` is a TCP proxy that can swallow the next reply
  and cut the connection: the command was applied but the client never
  hears so, the case idempotent retries exist for.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from typing import Any


class CommandMonitor:
    """Counts the commands a Redis server receives, by source and name.

    Use as a context manager around the code under observation.  ``network``
    counts commands sent by clients (one per round trip, pipelines aside);
    ``lua`` counts commands run inside scripts.
    """

    MARKER = "spinach-monitor-end"

    def __init__(self, server: Any) -> None:
        self._server = server
        self.network: Counter[str] = Counter()
        self.lua: Counter[str] = Counter()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CommandMonitor:
        self._marker = self._server.client()
        self._marker.ping()  # connect now, so that its handshake is not counted
        self._thread.start()
        assert self._started.wait(10), "MONITOR did not start"
        return self

    def __exit__(self, *exc: Any) -> None:
        self._marker.echo(self.MARKER)
        self._thread.join(10)

    def _run(self) -> None:
        client = self._server.client(socket_timeout=None)
        with client.monitor() as monitor:
            self._started.set()
            # MONITOR reports each command as it is received, in order.
            for event in monitor.listen():
                if self.MARKER in event["command"]:
                    return
                command = event["command"].split(" ", 1)[0].lower()
                if event.get("client_type") == "lua":
                    self.lua[command] += 1
                else:
                    self.network[command] += 1

    def total_network(self, exclude: tuple[str, ...] = ("monitor", "ping")) -> int:
        return sum(n for cmd, n in self.network.items() if cmd not in exclude)


class ReplyDroppingProxy:
    """A TCP proxy to Redis that can lose the next reply on purpose."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self._drop_next = threading.Event()
        self.dropped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_next_reply(self) -> None:
        """The next reply from Redis is swallowed and the connection cut."""
        self.dropped.clear()
        self._drop_next.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if replies and self._drop_next.is_set():
                    self._drop_next.clear()
                    self.dropped.set()
                    break  # the command was applied; its reply is lost
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
