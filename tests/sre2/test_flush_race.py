"""SRE review 2: a flush racing a starting worker makes a non-retryable job run twice.

``RedisBroker.flush()`` reads the namespace's registries (queues, workers...)
and then DELetes what it found, in a second step. A worker registered in
between keeps its running-jobs hash, but loses its registration (the
``brokers`` zset is deleted). Its next heartbeat registers it again with a new
incarnation, so ``check_dead_workers`` concludes it was declared dead
(``_declared_dead`` moves every held job to ``_discarded``) and, in the same
call, ``_orphans`` finds the jobs still recorded in its running hash, no longer
held, and takes them for fetches whose reply was lost: it puts them back in
their queue, while they still run in this very process. A non-retryable job
runs twice (and the outcome of the first run is discarded).

The flushing process is paused between its reads and its DELETE (a GC pause,
a slow network): the pause is the only instrumentation.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from spinach import Engine
from spinach.brokers.redis import RedisBroker

from .conftest import APP, client_tasks

pytestmark = pytest.mark.redis


class PausedBeforeDelete(redis.Redis):  # type: ignore[type-arg]
    """A client whose DEL waits for the test's go: the flusher pauses there."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.paused = threading.Event()
        self.go = threading.Event()

    def delete(self, *names: Any) -> Any:
        self.paused.set()
        assert self.go.wait(30)
        return super().delete(*names)


def test_a_flush_racing_a_starting_worker_runs_no_job_twice(fresh_redis, ledger):
    port = fresh_redis.client().connection_pool.connection_kwargs["port"]
    flusher_client = PausedBeforeDelete(port=port)
    flusher = Engine(RedisBroker(flusher_client), namespace=ledger.namespace)
    flusher.attach_tasks(client_tasks())
    flush = threading.Thread(target=flusher.broker.flush, daemon=True)
    flush.start()
    assert flusher_client.paused.wait(10)  # it has read the registries: no worker yet

    ledger.start_worker(fresh_redis.url, threads=2, threshold=3.0, app=APP)
    spin = ledger.engine(fresh_redis.client())
    spin.schedule("gated_once", "once")
    ledger.wait_event(lambda e: e.startswith("start gated_once once#1"))

    flusher_client.go.set()
    flush.join(10)
    second = ledger.watch(10.0, lambda e: e.startswith("start gated_once once#2"))
    assert second is None, f"a non-retryable job ran twice; ledger: {ledger.records()}"
