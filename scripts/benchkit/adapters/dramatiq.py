"""Dramatiq with its Redis broker: ``actor.send()`` and a ``dramatiq.Worker`` of 8 threads.

Dramatiq has no batch enqueue; a message gets a ``delay`` (milliseconds)
to run at a date, computed for each message so that all are due at the
same instant.
"""

from __future__ import annotations

import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from benchkit.adapters import Adapter, NotSupported, sync_kind
from benchkit.common import BODIES, Probe, hit


def noop() -> None:
    hit()


class DramatiqAdapter(Adapter):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.broker = RedisBroker(url=url)
        dramatiq.set_broker(self.broker)
        self.noop = dramatiq.actor(noop, broker=self.broker, actor_name="noop", queue_name="bench")
        self.actors = {"noop": self.noop}
        for kind, (body, _) in BODIES.items():
            self.actors[kind] = dramatiq.actor(
                body, broker=self.broker, actor_name=kind, queue_name="bench"
            )

    def enqueue_serial(self, count: int, kind: str = "noop") -> None:
        send = self.actors[sync_kind(kind)].send
        for _ in range(count):
            send()

    def enqueue_future(self, count: int, at: float) -> None:
        send = self.noop.send_with_options
        for _ in range(count):
            send(delay=max(0, round((at - time.time()) * 1000)))

    def close(self) -> None:
        self.broker.close()

    def run_worker(self, probe: Probe, concurrency: int, workers: str, purpose: str) -> None:
        if workers != "threads":
            raise NotSupported("no asyncio worker")
        worker = dramatiq.Worker(self.broker, worker_threads=concurrency)
        probe.ready()
        worker.start()
        probe.done.wait()
        worker.stop()


make = DramatiqAdapter
