"""Raw redis-py loops: the physical limit of a Redis list on this machine.

- enqueue: ``LPUSH`` one payload per round trip; batch: pipelined ``LPUSH``;
- worker with several slots: ``RPOP key 100`` (``BRPOP`` when the list is
  empty), every payload ``json.loads``'d and its no-op run in turn;
- worker with one slot and latency: a ``BRPOP`` loop.

Payloads are built before the clock starts and look like a Spinach job
(same fields, same size), so that no library pays for work the limit skips
other than its own.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from typing import Any, Deque

import redis

from benchkit.adapters import Adapter, NotSupported, job_kind
from benchkit.common import Probe, hit

KEY = "bench:raw"
POP_BATCH = 100
JOBS = {"noop": hit}


def payload() -> str:
    job = {
        "id": uuid.uuid4().hex,
        "task_name": "noop",
        "queue": "spinach",
        "at": time.time(),
        "max_retries": 0,
        "retries": 0,
        "args": [],
        "kwargs": {},
    }
    return json.dumps(job, separators=(",", ":"))


class RawAdapter(Adapter):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.redis = redis.Redis.from_url(url)
        self.payloads: Deque[str] = deque()

    def prepare(self, count: int) -> None:
        self.payloads.extend(payload() for _ in range(count))

    def _take(self) -> Any:
        return self.payloads.popleft() if self.payloads else payload()

    def enqueue_serial(self, count: int, kind: str = "noop") -> None:
        if job_kind(kind) != "noop":
            raise NotSupported("no worker for async jobs")
        lpush, take = self.redis.lpush, self._take
        for _ in range(count):
            lpush(KEY, take())

    def enqueue_batch(self, count: int, kind: str = "noop") -> None:
        if job_kind(kind) != "noop":
            raise NotSupported("no worker for async jobs")
        pipe = self.redis.pipeline(transaction=False)
        for _ in range(count):
            pipe.lpush(KEY, self._take())
        pipe.execute()

    def close(self) -> None:
        self.redis.close()

    def run_worker(self, probe: Probe, concurrency: int, workers: str, purpose: str) -> None:
        if workers != "threads":
            raise NotSupported("no async worker")
        probe.ready()
        if concurrency == 1:
            self._brpop_loop(probe)
        else:
            self._batched_loop(probe)

    def _brpop_loop(self, probe: Probe) -> None:
        brpop = self.redis.brpop
        while not probe.done.is_set():
            item = brpop([KEY], timeout=1)
            if item is not None:
                JOBS[json.loads(item[1])["task_name"]]()

    def _batched_loop(self, probe: Probe) -> None:
        rpop, brpop = self.redis.rpop, self.redis.brpop
        while not probe.done.is_set():
            items = rpop(KEY, POP_BATCH)
            if not items:
                item = brpop([KEY], timeout=1)
                items = [] if item is None else [item[1]]
            for item in items:
                JOBS[json.loads(item)["task_name"]]()


make = RawAdapter
