"""Adapters: one module per system, all with the interface of :class:`Adapter`.

An adapter module is imported in its system's virtualenv only (it imports
its library at the top).  Its jobs call :func:`benchkit.common.hit`; the
measurements (:mod:`benchkit.measure`) drive every adapter the same way:

- client side: :meth:`Adapter.enqueue_serial` (one round trip after the
  other), :meth:`Adapter.enqueue_batch` (the library's batch API),
  :meth:`Adapter.enqueue_future` (jobs due at one instant) and
  :meth:`Adapter.enqueue_latency_probe`;
- worker side: :meth:`Adapter.run_worker` runs the library's worker in this
  process until the probe has seen every expected job, then stops it.

A method a system cannot honour raises
:class:`~benchkit.common.NotSupported` with the reason.
"""

from __future__ import annotations

import importlib

from benchkit.common import NotSupported, Probe

#: system name -> module of benchkit.adapters
MODULES = {
    "ours": "ours",
    "ours-aof": "ours",
    "ours-tracked": "ours_tracked",
    "original": "original",
    "rq": "rq",
    "dramatiq": "dramatiq",
    "celery": "celery",
    "huey": "huey",
    "arq": "arq",
    "saq": "saq",
    "raw": "raw",
}


class Adapter:
    """Common interface of the systems under test.

    :arg url: the Redis URL of the benchmark's server
    """

    #: The kind of job the worker will run (set by :mod:`benchkit.child` before
    #: :meth:`run_worker`): only the raw loops need it, to pick their loop.
    kind = "noop"

    def __init__(self, url: str) -> None:
        self.url = url

    # -- client side --------------------------------------------------------

    def prepare(self, count: int) -> None:
        """Untimed preparation before enqueuing ``count`` jobs (raw: build the payloads)."""

    def enqueue_serial(self, count: int, kind: str = "noop") -> None:
        """Enqueue ``count`` jobs one by one, each call waiting for its reply."""
        raise NotImplementedError

    def enqueue_batch(self, count: int, kind: str = "noop") -> None:
        """Enqueue ``count`` jobs with the library's batch API."""
        raise NotSupported("no batch enqueue API")

    def enqueue_future(self, count: int, at: float) -> None:
        """Enqueue ``count`` no-op jobs due at the Unix time ``at``, as fast as possible."""
        raise NotSupported("no jobs scheduled for a date")

    def enqueue_latency_probe(self) -> None:
        """Enqueue one no-op job (its start is timed)."""
        self.enqueue_serial(1)

    def close(self) -> None:
        """Release connections (the driver is about to exit)."""

    # -- worker side --------------------------------------------------------

    def run_worker(self, probe: Probe, concurrency: int, workers: str, purpose: str) -> None:
        """Run a worker with ``concurrency`` slots until ``probe.done``, then stop it.

        Call ``probe.ready()`` right before the worker starts consuming.

        :arg workers: ``"threads"``, or ``"asyncio"`` for the async I/O run
        :arg purpose: ``"process"``, ``"latency"`` or ``"future"``, for the
            libraries that need an option only for future jobs
        """
        raise NotImplementedError


def load(system: str, url: str) -> Adapter:
    """The adapter of ``system``, set up for ``url``."""
    module = importlib.import_module(f"benchkit.adapters.{MODULES[system]}")
    adapter: Adapter = module.make(url)
    return adapter


#: The kinds of job: "noop"; "sleep" (async I/O: awaits 10 ms, asyncio workers
#: only); "roundtrip" (one Redis round trip to the body server, on a connection
#: of its own) and "wait" (waits 1 ms), see :data:`benchkit.common.BODIES`.
KINDS = ("noop", "sleep", "roundtrip", "wait")


def job_kind(kind: str) -> str:
    """Check the kind of job asked for (one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    return kind


def sync_kind(kind: str) -> str:
    """Check ``kind`` for a library without asyncio worker: "sleep" is not supported."""
    if job_kind(kind) == "sleep":
        raise NotSupported("no asyncio worker")
    return kind


__all__ = ["KINDS", "MODULES", "Adapter", "NotSupported", "job_kind", "load", "sync_kind"]
