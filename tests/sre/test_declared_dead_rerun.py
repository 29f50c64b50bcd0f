"""SRE review: a worker declared dead that fetches the same job again.

(Found by the review, fixed since: the test guards the fix.)

A worker frozen for longer than the threshold (SIGSTOP here; GC, a swapped
VM, a stuck hypervisor in production) is declared dead; its retryable job is
re-queued by the worker that noticed.  When it resumes, it registers again
and, with free slots, may fetch that very job again: the same job id now
runs twice in one process, the old run (whose outcome must be discarded) and
the new one (whose outcome counts).  The broker tells them apart by job id
only (``RedisBroker._discarded``, and the scripts' running hash), so the old
run's end settles the new run's record.

Real worker processes; the observer serves another queue, so that only the
resumed worker can fetch the job again.
"""

from __future__ import annotations

import signal

import pytest

pytestmark = pytest.mark.redis

THRESHOLD = 3.0


def _freeze_until_declared_dead(ledger, worker, observer_id):
    worker.send_signal(signal.SIGSTOP)
    ledger.wait_event(
        lambda e: e.startswith("dead worker") and e.split()[2] == observer_id, timeout=THRESHOLD * 4
    )
    worker.send_signal(signal.SIGCONT)
    ledger.wait_event(lambda e: e.startswith("declared-dead worker"), timeout=THRESHOLD * 4)


def _identity(ledger, proc):
    event = ledger.wait_event(
        lambda e: e.startswith("identity worker") and e.endswith(str(proc.pid))
    )
    return event.split()[2]


def test_the_retry_of_a_new_run_survives_the_end_of_the_old_run(fresh_redis, ledger, wait_until):
    spin = ledger.engine(fresh_redis.client())
    worker = ledger.start_worker(fresh_redis.url, threads=4, threshold=THRESHOLD)
    wid = _identity(ledger, worker)
    observer = ledger.start_worker(fresh_redis.url, threads=1, threshold=THRESHOLD, queue="other")
    _identity(ledger, observer)
    job = spin.schedule("gated_fail", "f1")
    ledger.wait_event(lambda e: e.startswith("start gated_fail f1#1"))

    _freeze_until_declared_dead(ledger, worker, wid)
    # The resumed worker fetches the re-queued job again: a second run, here.
    ledger.wait_event(lambda e: e == f"start gated_fail f1#2 {worker.pid}")

    # The old run ends first (it raises RetryException; its outcome must be discarded).
    ledger.release("f1#1")
    ledger.wait_event(lambda e: e.startswith("end gated_fail f1#1"))
    # Its acknowledgement settles the *new* run's record: the job is no longer
    # recorded as running anywhere, though run #2 is still running.
    broker = spin.broker
    try:
        wait_until(lambda: job not in broker.running_jobs(), timeout=10)
        untracked = True
    except AssertionError:
        untracked = False

    # The new run fails: retries=1 < max_retries=3, so it must run a third time.
    ledger.release("f1#2")
    ledger.wait_event(lambda e: e.startswith("end gated_fail f1#2"))
    # Its retry comes after exponential_backoff(2): 6 to 12 s.
    third = ledger.watch(20, lambda e: e.startswith(("start gated_fail f1#3", "failed:")))
    ledger.release("f1#3")
    assert third is not None, (
        "the retry of the new run was silently dropped: no third run, no job_failed, "
        f"job in queue: {not broker.is_queue_empty('spinach')}, "
        f"future jobs: {broker.future_jobs_count()}, "
        f"run #2 was untracked while running: {untracked}; ledger: {ledger.records()}\n"
        f"worker log:\n{ledger.log_of(worker)}"
    )


def test_max_concurrency_holds_after_the_old_run_ends(fresh_redis, ledger):
    spin = ledger.engine(fresh_redis.client())
    worker = ledger.start_worker(fresh_redis.url, threads=4, threshold=THRESHOLD)
    wid = _identity(ledger, worker)
    observer = ledger.start_worker(fresh_redis.url, threads=1, threshold=THRESHOLD, queue="other")
    _identity(ledger, observer)
    spin.schedule("gated_limited", "L1")  # max_concurrency=1
    ledger.wait_event(lambda e: e.startswith("start gated_limited L1#1"))

    _freeze_until_declared_dead(ledger, worker, wid)
    ledger.wait_event(lambda e: e == f"start gated_limited L1#2 {worker.pid}")  # counted: 1/1
    spin.schedule("gated_limited", "L2")  # must wait for L1#2 to end

    ledger.release("L1#1")  # the old, discarded run ends
    early = ledger.watch(10, lambda e: e.startswith("start gated_limited L2#1"))
    ledger.release("L1#2")
    ledger.release("L2#1")
    assert early is None, (
        f"max_concurrency=1 exceeded: {early!r} started while L1#2 was running; "
        f"ledger: {ledger.records()}"
    )
