"""Raw redis-py loops: the physical limit of a Redis list on this machine.

- enqueue: ``LPUSH`` one payload per round trip; batch: pipelined ``LPUSH``;
- worker with several slots: ``RPOP key 100`` (``BRPOP`` when the list is
  empty), every payload ``json.loads``'d and its no-op run in turn;
- worker with several slots, jobs with a body (one Redis round trip, a 1 ms
  wait): one thread per slot, fed by a fetching thread that takes as many
  jobs as slots are free in one ``RPOP key N`` (``BRPOP`` when the list is
  empty), as a task queue's worker does;
- worker with one slot and latency: a ``BRPOP`` loop.

Payloads are built before the clock starts and look like a Spinach job
(same fields, same size), so that no library pays for work the limit skips
other than its own.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections import deque
from typing import Any, Deque, Optional

import redis

from benchkit.adapters import Adapter, NotSupported, sync_kind
from benchkit.common import BODIES, Probe, hit

KEY = "bench:raw"
POP_BATCH = 100
JOBS = {"noop": hit, **{kind: sync for kind, (sync, _) in BODIES.items()}}


def payload(kind: str = "noop") -> str:
    job = {
        "id": uuid.uuid4().hex,
        "task_name": kind,
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

    def _take(self, kind: str) -> Any:
        if kind != "noop":  # only timed enqueues (of no-ops) use prepared payloads
            return payload(kind)
        return self.payloads.popleft() if self.payloads else payload()

    def enqueue_serial(self, count: int, kind: str = "noop") -> None:
        lpush, take, kind = self.redis.lpush, self._take, sync_kind(kind)
        for _ in range(count):
            lpush(KEY, take(kind))

    def enqueue_batch(self, count: int, kind: str = "noop") -> None:
        kind = sync_kind(kind)
        pipe = self.redis.pipeline(transaction=False)
        for _ in range(count):
            pipe.lpush(KEY, self._take(kind))
        pipe.execute()

    def close(self) -> None:
        self.redis.close()

    def run_worker(self, probe: Probe, concurrency: int, workers: str, purpose: str) -> None:
        if workers != "threads":
            raise NotSupported("no async worker")
        probe.ready()
        if concurrency == 1:
            self._brpop_loop(probe)
        elif self.kind == "noop":
            self._batched_loop(probe)
        else:
            self._pooled_loop(probe, concurrency)

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

    def _pooled_loop(self, probe: Probe, concurrency: int) -> None:
        slots = threading.Semaphore(concurrency)
        work: queue.SimpleQueue[Optional[bytes]] = queue.SimpleQueue()

        def run() -> None:
            while True:
                item = work.get()
                if item is None:
                    return
                try:
                    JOBS[json.loads(item)["task_name"]]()
                finally:
                    slots.release()

        threads = [threading.Thread(target=run, daemon=True) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        rpop, brpop = self.redis.rpop, self.redis.brpop
        while not probe.done.is_set():
            if not slots.acquire(timeout=1):
                continue
            free = 1
            while free < concurrency and slots.acquire(blocking=False):
                free += 1
            items: Any = rpop(KEY, free) or []
            if not items:
                item = brpop([KEY], timeout=1)
                items = [] if item is None else [item[1]]
            for _ in range(free - len(items)):
                slots.release()
            for item in items:
                work.put(item)
        for _ in threads:
            work.put(None)


make = RawAdapter
