"""How long a huge ``schedule_batch()`` keeps other clients of Redis waiting.

    python3 scripts/bench-batch                 # one million jobs
    python3 scripts/bench-batch --jobs 200000   # fewer

A private redis-server (no persistence) serves two clients: one, in a
process of its own, sends ``PING`` after ``PING`` and records how long each
waits for its reply; the other schedules one batch of no-op jobs through
``Engine.schedule_batch()``.
The longest wait of the pinger is the longest time the batch blocked every
other client of the server.  For comparison (up to 200,000 jobs, where it
stays safe), the same batch is sent again in a single script call, as
before batches were split.  Prints a table and writes
``bench-results/big-batch-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from benchkit.orchestrator import ROOT, load_redis_support

TARGET_MS = 50.0
#: Up to this many jobs, the single-call comparison is run too.
ONE_CALL_MAX = 200_000


def _ping_forever(port: int, ready: Any, stop: Any, results: Any) -> None:
    """In a process of its own (no GIL shared with the producer): ping, record each wait."""
    import redis

    client = redis.Redis(port=port, socket_timeout=120)
    client.ping()
    samples = []
    ready.set()
    while not stop.is_set():
        started = time.perf_counter()
        client.ping()
        samples.append((time.perf_counter() - started) * 1000)
    results.put(samples)


class Pinger:
    """Another client of the server, in another process, pinging without pause."""

    def __init__(self, port: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready, self._stop = context.Event(), context.Event()
        self._results: Any = context.Queue()
        self._process = context.Process(
            target=_ping_forever,
            args=(port, self._ready, self._stop, self._results),
            name="bench-pinger",
        )
        self.samples: List[float] = []

    def __enter__(self) -> Pinger:
        self._process.start()
        assert self._ready.wait(60), "the pinger did not start"
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self.samples = self._results.get(timeout=60)
        self._process.join(30)

    def summary(self) -> Dict[str, float]:
        ordered = sorted(self.samples)
        return {
            "pings": len(ordered),
            "max_ms": ordered[-1],
            "p99_ms": ordered[int(0.99 * (len(ordered) - 1))],
            "p50_ms": ordered[len(ordered) // 2],
        }


def measure(server: Any, jobs: int, one_call: bool) -> Dict[str, Any]:
    from spinach import Batch, Engine
    from spinach.brokers.redis import RedisBroker, broker

    spin = Engine(RedisBroker(server.client()), namespace=f"big{int(one_call)}")
    spin.task(lambda n: None, name="noop")
    batch = Batch()
    for n in range(jobs):
        batch.schedule("noop", n)
    saved = broker.BATCH_CHUNK_JOBS, broker.BATCH_CHUNK_BYTES
    if one_call:  # as before batches were split: everything in one script call
        broker.BATCH_CHUNK_JOBS = broker.BATCH_CHUNK_BYTES = 1 << 62
    try:
        with Pinger(server.port) as pinger:
            started = time.perf_counter()
            spin.schedule_batch(batch)
            elapsed = time.perf_counter() - started
    finally:
        broker.BATCH_CHUNK_JOBS, broker.BATCH_CHUNK_BYTES = saved
    assert spin.broker.queue_length("spinach") == jobs, "jobs are missing"
    spin.broker.flush()
    return {"jobs": jobs, "seconds": elapsed, "jobs_per_s": jobs / elapsed, **pinger.summary()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench-batch", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs in the batch")
    parser.add_argument(
        "--ours-python", help="Python with this checkout's spinach (set by bootstrap)"
    )
    parser.add_argument("--output", default=str(ROOT / "bench-results"))
    args = parser.parse_args()
    support = load_redis_support()
    with tempfile.TemporaryDirectory(prefix="spinach-big-batch-") as workdir:
        server = support.RedisServer(Path(workdir)).start()
        try:
            results = {"split (spinach-redis)": measure(server, args.jobs, one_call=False)}
            if args.jobs <= ONE_CALL_MAX:
                results["one script call"] = measure(server, args.jobs, one_call=True)
        finally:
            server.close()
    print(f"schedule_batch() of {args.jobs:,} no-op jobs, another client pinging meanwhile:")
    print(f"  {'':24} {'seconds':>8} {'jobs/s':>9} {'pings':>7} {'p50 ms':>7} {'p99 ms':>7}"
          f" {'max ms':>8}")  # fmt: skip
    for name, r in results.items():
        print(f"  {name:24} {r['seconds']:8.2f} {r['jobs_per_s']:9,.0f} {r['pings']:7,}"
              f" {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['max_ms']:8.1f}")  # fmt: skip
    worst = results["split (spinach-redis)"]["max_ms"]
    verdict = "PASS" if worst <= TARGET_MS else "FAIL"
    print(f"target: another client never waits more than {TARGET_MS:.0f} ms: "
          f"{worst:.1f} ms, {verdict}")  # fmt: skip
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / f"big-batch-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"jobs": args.jobs, "results": results}, indent=2))
    print(f"Raw figures: {path}")


if __name__ == "__main__":
    main()
