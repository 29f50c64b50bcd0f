"""What the measuring process (the driver) and the worker process share.

The jobs of every system call :data:`PROBE` (``common.PROBE.hit()``), which
records when they start and tells the driver through a pipe: a job costs no
extra Redis command, so ``INFO commandstats`` counts only what the library
itself sends.  The driver reads the pipe with a blocking read (no polling).

The task bodies of the realistic workloads are here too, written once for
every system (:data:`BODIES`): ``roundtrip`` sends one ``INCR`` on a
connection of its own to a *second* private redis-server (the "body"
server, :data:`BODY_URL`), so that the queue's server counts only the
queue's commands; ``wait`` sleeps 1 ms (I/O that holds its slot).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import queue
import threading
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence

#: The probe of the worker process; the jobs of every adapter call it.
PROBE: Optional[Probe] = None

#: Commands the harness itself sends, left out of the counts.
HARNESS_COMMANDS = frozenset({"info", "config|resetstat", "flushall"})


def hit() -> None:
    """Called by every benchmark job when it starts (or, jobs with a body, when it ends)."""
    assert PROBE is not None, "the probe is set up by benchkit.child before the worker starts"
    PROBE.hit()


# -- task bodies -----------------------------------------------------------------

#: The Redis URL of the body server (set by benchkit.child in the worker).
BODY_URL: Optional[str] = None
#: The key the ``roundtrip`` bodies increment: its value is the bodies run.
BODY_KEY = "bench:bodies"
#: Seconds the ``wait`` bodies sleep.
WAIT_SECONDS = 0.001

_local = threading.local()
_async_clients: Dict[int, Any] = {}


def _body_client() -> Any:
    """The calling thread's own client of the body server (one connection each)."""
    client = getattr(_local, "client", None)
    if client is None:
        import redis

        assert BODY_URL is not None, "the body server's URL is set by benchkit.child"
        client = _local.client = redis.Redis.from_url(BODY_URL)
    return client


def roundtrip_body() -> None:
    """One Redis round trip on this thread's own connection, then :func:`hit`."""
    _body_client().incr(BODY_KEY)
    hit()


def wait_body() -> None:
    """Wait 1 ms (blocking I/O), then :func:`hit`."""
    time.sleep(WAIT_SECONDS)
    hit()


async def async_roundtrip_body() -> None:
    """One round trip on a connection of its own (a pool per event loop), then :func:`hit`.

    Each job checks a connection out of the pool for its command, so
    concurrent jobs never share one; the pool opens one per slot at most.
    """
    import asyncio

    import redis.asyncio

    loop = id(asyncio.get_running_loop())
    client = _async_clients.get(loop)
    if client is None:
        assert BODY_URL is not None, "the body server's URL is set by benchkit.child"
        client = _async_clients[loop] = redis.asyncio.Redis.from_url(BODY_URL)
    await client.incr(BODY_KEY)
    hit()


async def async_wait_body() -> None:
    """Await 1 ms (non-blocking I/O), then :func:`hit`."""
    import asyncio

    await asyncio.sleep(WAIT_SECONDS)
    hit()


#: Job kinds with a body -> (sync body, async body).
BODIES = {
    "roundtrip": (roundtrip_body, async_roundtrip_body),
    "wait": (wait_body, async_wait_body),
}


# -- the pipe between the worker and the driver -------------------------------


class Channel:
    """One-way JSON-lines messages over a pipe (worker -> driver).

    A line under ``PIPE_BUF`` bytes is written atomically, so worker threads
    may send without a lock.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, kind: str, **data: Any) -> None:
        line = (json.dumps({"kind": kind, **data}, separators=(",", ":")) + "\n").encode()
        view = memoryview(line)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


class Inbox:
    """The driver's end of a :class:`Channel`: messages with a deadline.

    A thread does the blocking reads, so that the driver can wait on a
    queue with a timeout (no polling, no sleeping).
    """

    def __init__(self, fd: int) -> None:
        self._messages: queue.SimpleQueue[Optional[Dict[str, Any]]] = queue.SimpleQueue()
        self._file = os.fdopen(fd, "rb", buffering=1 << 16)
        threading.Thread(target=self._read, name="inbox", daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self._file:
                self._messages.put(json.loads(line))
        finally:
            self._messages.put(None)  # end of file: the worker is gone

    def get(self, kind: str, timeout: float) -> Dict[str, Any]:
        """The next message, which must be of ``kind``; raise on timeout or exit."""
        try:
            message = self._messages.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            raise MeasurementError(
                f"no {kind!r} message from the worker in {timeout:.0f} s"
            ) from None
        if message is None:
            raise MeasurementError(f"the worker exited before sending {kind!r}")
        if message["kind"] == "error":
            raise MeasurementError(f"the worker failed: {message['error']}")
        if message["kind"] != kind:
            raise MeasurementError(f"expected {kind!r} from the worker, got {message['kind']!r}")
        return message


class MeasurementError(RuntimeError):
    """A measurement could not be completed (the figure is reported as an error)."""


class NotSupported(Exception):
    """The system cannot do what a measurement asks; the message says why."""


# -- the probe -----------------------------------------------------------------


class Probe:
    """Counts job starts in the worker process; says when the expected count is reached.

    Modes:

    - ``count``: only the first and last start times are kept (throughput);
    - ``each``: every start is sent to the driver at once (latency);
    - ``collect``: every start time is kept and sent at the end (future jobs).

    ``warmup`` starts are sent at once in every mode and not counted.
    """

    def __init__(self, channel: Channel, mode: str, expected: int, warmup: int = 0) -> None:
        if mode not in ("count", "each", "collect"):
            raise ValueError(mode)
        self.channel = channel
        self.mode = mode
        self.expected = expected
        self.warmup = warmup
        self.done = threading.Event()
        self.t_ready: Optional[float] = None
        self.t_first: Optional[float] = None
        self._counter = itertools.count(1)  # next() is atomic: no lock on the hot path
        self._starts: List[float] = []

    def ready(self) -> None:
        """The worker is about to consume: the clock of a throughput run starts here."""
        self.t_ready = time.time()
        self.channel.send("ready", t=self.t_ready)

    def hit(self) -> None:
        now = time.time()
        n = next(self._counter) - self.warmup
        if n <= 0:
            self.channel.send("warmup", t=now)
            return
        if n == 1:
            self.t_first = now
        if self.mode == "each":
            self.channel.send("hit", t=now)
        elif self.mode == "collect":
            self._starts.append(now)
        if n == self.expected:
            self.channel.send(
                "done",
                t_ready=self.t_ready,
                t_first=self.t_first,
                t_last=now,
                starts=sorted(self._starts) if self.mode == "collect" else None,
            )
            self.done.set()


# -- statistics ------------------------------------------------------------------


def median(values: Iterable[float]) -> Optional[float]:
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    mid = len(data) // 2
    return data[mid] if len(data) % 2 else (data[mid - 1] + data[mid]) / 2


def percentile(values: Sequence[float], pct: float) -> Optional[float]:
    """The ``pct`` percentile by the nearest-rank method (p100 is the maximum)."""
    data = sorted(values)
    if not data:
        return None
    rank = max(1, math.ceil(pct / 100 * len(data)))
    return data[rank - 1]


# -- Redis ------------------------------------------------------------------------


def command_counts(client: Any) -> Dict[str, int]:
    """Calls per command since the last ``CONFIG RESETSTAT``, harness commands excluded.

    Redis counts the commands a Lua script runs as well as the script call
    itself (``evalsha``), so the sum is every command the server executed.
    """
    stats = client.info("commandstats")
    counts = {}
    for key, value in stats.items():
        name = key[len("cmdstat_") :] if key.startswith("cmdstat_") else key
        if name not in HARNESS_COMMANDS:
            counts[name] = int(value["calls"])
    return counts


def count_difference(after: Dict[str, int], before: Dict[str, int]) -> Dict[str, int]:
    diff = {name: after[name] - before.get(name, 0) for name in after}
    return {name: calls for name, calls in sorted(diff.items()) if calls}


def peak_rss_kib() -> Optional[int]:
    """VmHWM of this process, in KiB (Linux), or None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None
