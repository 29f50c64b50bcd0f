"""Celery with the Redis transport: ``task.delay()`` and a threads-pool worker.

The worker runs with ``--pool=threads --concurrency=N`` in this process;
its clock starts at Celery's ``worker_ready`` signal (after its start-up
handshakes), and it is stopped with SIGTERM (Celery's warm shutdown).  No
result backend is configured.  ``apply_async(eta=...)`` schedules a date.
The bodies of the realistic workloads run on the worker's threads.
"""

from __future__ import annotations

import os
import signal
import threading
from datetime import datetime, timezone
from typing import Any

from celery import Celery
from celery.signals import worker_ready

from benchkit.adapters import Adapter, NotSupported, sync_kind
from benchkit.common import BODIES, Probe, hit

QUEUE = "bench"


def noop() -> None:
    hit()


class CeleryAdapter(Adapter):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.app = Celery("bench", broker=url, set_as_current=True)
        self.app.conf.update(
            task_default_queue=QUEUE,
            worker_hijack_root_logger=False,
            broker_connection_retry_on_startup=True,
        )
        self.noop = self.app.task(name="noop")(noop)
        self.tasks = {"noop": self.noop}
        for kind, (body, _) in BODIES.items():
            self.tasks[kind] = self.app.task(name=kind)(body)

    def enqueue_serial(self, count: int, kind: str = "noop") -> None:
        delay = self.tasks[sync_kind(kind)].delay
        for _ in range(count):
            delay()

    def enqueue_future(self, count: int, at: float) -> None:
        eta = datetime.fromtimestamp(at, timezone.utc)
        apply_async = self.noop.apply_async
        for _ in range(count):
            apply_async(eta=eta)

    def close(self) -> None:
        self.app.close()

    def run_worker(self, probe: Probe, concurrency: int, workers: str, purpose: str) -> None:
        if workers != "threads":
            raise NotSupported("no asyncio worker")

        def ready(**_: Any) -> None:
            probe.ready()

        def stop() -> None:
            probe.done.wait()
            os.kill(os.getpid(), signal.SIGTERM)

        worker_ready.connect(ready, weak=False)
        threading.Thread(target=stop, daemon=True).start()
        try:
            self.app.worker_main(
                [
                    "worker",
                    "--pool=threads",
                    f"--concurrency={concurrency}",
                    "--loglevel=WARNING",
                    f"--queues={QUEUE}",
                ]
            )
        except SystemExit as exc:
            if exc.code:
                raise


make = CeleryAdapter
