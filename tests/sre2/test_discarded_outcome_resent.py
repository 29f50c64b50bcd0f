"""SRE review 2: a taken-over run's outcome is sent after all if its first send fails.

The first review's fix tells the runs of one job apart (``RedisBroker._held``
and ``_discarded`` hold Job objects): when a worker declared dead resumes, the
outcome of each run that was taken over is dropped locally by ``_outcomes``,
so that it cannot settle the record of a new run of the same job, fetched
again by this worker.

But ``_outcomes`` forgets the run (``del discarded[...]``) when it *builds*
the call's arguments, not once the call succeeded. When the exchange fails
(a Redis outage right then: the arbiter gives up after its attempts and
gives the finished jobs back to ``Results``), the next attempt rebuilds the
arguments, no longer finds the run among the discarded ones, and sends its
outcome: it settles the new run's record (removed while the new run goes
on) and, for a retry, queues the job again, so a third run starts beside the
second.
"""

from __future__ import annotations

import signal

import pytest

from .conftest import APP

pytestmark = pytest.mark.redis

THRESHOLD = 10.0  # a heartbeat every 2 s: the outage starts just after one
ATTEMPTS = 3  # of each call, before the arbiter gives up and gives finished jobs back
#: The worker logs every failed attempt (the first of an episode at WARNING,
#: the next ones at DEBUG), and gives up a call after a short outage.
EXTRA = ("--debug-broker", "--attempts", str(ATTEMPTS))


def _warnings(log: str) -> str:
    lines = [line for line in log.splitlines() if " WARNING " in line or " ERROR " in line]
    return "\n".join(line[:200] for line in lines if "notifications connection" not in line)


def _identity(ledger, proc):
    event = ledger.wait_event(
        lambda e: e.startswith("identity worker") and e.endswith(str(proc.pid))
    )
    return event.split()[2]


def test_the_outcome_of_a_taken_over_run_stays_discarded_through_an_outage(
    fresh_redis, ledger, wait_until
):
    spin = ledger.engine(fresh_redis.client())
    worker = ledger.start_worker(
        fresh_redis.url, threads=4, threshold=THRESHOLD, app=APP, extra=EXTRA
    )
    wid = _identity(ledger, worker)
    observer = ledger.start_worker(
        fresh_redis.url, threads=1, threshold=THRESHOLD, queue="other", app=APP
    )
    _identity(ledger, observer)
    spin.schedule("gated_fail", "f1")
    ledger.wait_event(lambda e: e.startswith("start gated_fail f1#1"))

    # Frozen past the threshold: declared dead, f1 re-queued by the observer.
    worker.send_signal(signal.SIGSTOP)
    ledger.wait_event(lambda e: e == f"dead worker {wid} {observer.pid}", timeout=THRESHOLD * 3)
    worker.send_signal(signal.SIGCONT)
    ledger.wait_event(lambda e: e.startswith("declared-dead worker"), timeout=THRESHOLD * 2)
    ledger.wait_event(lambda e: e == f"start gated_fail f1#2 {worker.pid}")  # the new run

    # Just after one of the worker's heartbeats (the outage must end before
    # the observer could declare it dead again), Redis goes down...
    admin = fresh_redis.client()
    brokers = f"{{{ledger.namespace}}}:brokers"
    [full_id] = [m for m in admin.zrange(brokers, 0, -1) if m.decode().startswith(wid)]
    last = admin.zscore(brokers, full_id)
    wait_until(lambda: admin.zscore(brokers, full_id) != last, timeout=THRESHOLD)
    fresh_redis.kill()
    # ... and the old run ends: its (discarded) outcome goes in an exchange
    # whose every attempt fails, so the arbiter gives the finished job back
    # (whichever call was in flight failed first, the exchange is still tried).
    ledger.release("f1#1")
    ledger.wait_event(lambda e: e.startswith("end gated_fail f1#1"))
    wait_until(
        lambda: (
            ledger.log_of(worker).count("while trying to acknowledge and fetch jobs") >= ATTEMPTS
        ),
        timeout=30,
        what="the exchange carrying the old run's outcome failed",
    )
    fresh_redis.start()

    third = ledger.watch(15.0, lambda e: e.startswith("start gated_fail f1#3"))
    ledger.release("f1#2")
    if third is not None:
        ledger.release("f1#3")
    assert third is None, (
        f"a third run started while the second still ran: the old run's discarded outcome "
        f"was sent after the failed call; ledger: {ledger.records()}\n"
        f"worker log (warnings):\n{_warnings(ledger.log_of(worker))}"
    )
