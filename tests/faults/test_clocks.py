"""Clocks disagree: due times and deaths are judged on one clock (issue 11).

Workers run ``worker_app.py --skew SECONDS`` (their ``time.time`` is that far
off, for every part of Spinach) and producers ``producer_app.py --skew``.
Workers write an ``early`` event when a job starts before its date by the
true clock, which this test process and both Redis servers share.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spinach.utils import from_timestamp

pytestmark = pytest.mark.redis

THRESHOLD = 3.0  # broker_dead_threshold_seconds of the workers of these tests
DELAY = 5.0  # seconds from now to the start date of the future jobs
SKEW = 30.0
PRODUCER = Path(__file__).with_name("producer_app.py")


def _run_or_early(workers, token: str, due: float) -> None:
    """Wait for the future job ``token`` to run; fail if it started before ``due``."""
    event = workers.wait_event(
        lambda e: e.startswith((f"run record {token} ", f"early record {token} ")),
        timeout=DELAY + 20,
    )
    assert event.startswith("run "), (
        f"the job due at true time {due:.3f} started {due - time.time():.1f} s early: {event}"
    )
    assert time.time() >= due
    assert not [r for r in workers.records() if r.startswith("early ")]


def test_worker_clock_ahead_starts_no_future_job_early(workers):
    workers.start_worker(threads=2, threshold=THRESHOLD, extra=("--skew", str(SKEW)))
    spin = workers.engine()
    due = time.time() + DELAY
    spin.schedule_at("record", from_timestamp(due), "ahead-worker")
    _run_or_early(workers, "ahead-worker", due)


def test_producer_clock_ahead_starts_no_future_job_early(workers):
    workers.start_worker(threads=2, threshold=THRESHOLD)
    due = time.time() + DELAY  # an absolute date, from the true clock
    producer = subprocess.run(
        [sys.executable, str(PRODUCER), "--url", workers.broker_server.url,
         "--namespace", workers.namespace, "--at", repr(due), "--skew", str(SKEW),
         "record", "ahead-producer"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert producer.returncode == 0, producer.stderr
    _run_or_early(workers, "ahead-producer", due)


@pytest.mark.parametrize(
    ("holder_skew", "observer_skew"),
    [(-SKEW, 0.0), (0.0, SKEW)],
    ids=["holder-clock-behind", "observer-clock-ahead"],
)
def test_clock_skew_never_makes_a_live_worker_dead(workers, holder_skew, observer_skew):
    """A worker running jobs beside another whose clock is 30 s off."""
    spin = workers.engine()
    holder = workers.start_worker(
        threads=2, threshold=THRESHOLD, extra=("--skew", str(holder_skew))
    )
    spin.schedule("hold", "skewed-retryable")
    spin.schedule("hold_once", "skewed-once")
    workers.wait_event(lambda e: e == f"start hold skewed-retryable {holder.pid}")
    workers.wait_event(lambda e: e == f"start hold_once skewed-once {holder.pid}")
    observer = workers.start_worker(
        threads=2, threshold=THRESHOLD, extra=("--skew", str(observer_skew))
    )
    started_at = workers.ledger_time()

    def run_twice_or_lost(event: str) -> bool:
        return event.startswith(("start hold", "failed:"))

    event = workers.watch(2.5 * THRESHOLD, bad=run_twice_or_lost)
    assert event is None, (
        f"a live worker was declared dead {workers.ledger_time() - started_at:.1f} s after "
        f"the other started (holder={holder.pid}, observer={observer.pid}): {event}"
    )
    spin.schedule("record", "alive")  # the holder is full: the observer runs it
    ran = workers.wait_event(lambda e: e.startswith("run record alive "))
    assert ran.endswith(f" {observer.pid}")

    for token in ("skewed-retryable", "skewed-once"):
        workers.release(token)
    workers.wait_event(lambda e: e == f"end hold skewed-retryable {holder.pid}")
    workers.wait_event(lambda e: e == f"end hold_once skewed-once {holder.pid}")
    for worker in (holder, observer):
        worker.send_signal(signal.SIGTERM)
    for worker in (holder, observer):
        assert worker.wait(30) == 0, workers.log_of(worker)
    records = workers.records()
    assert sum(r.startswith("start hold") for r in records) == 2, records
    assert not [r for r in records if r.startswith("failed:")]
    broker = spin.broker
    assert broker.is_queue_empty("spinach")
    assert broker.running_jobs() == []
