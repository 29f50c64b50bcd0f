"""A tracked job set aside as unreadable keeps a live record for ever.

Scenario (production): producers and workers disagree for a while about
the payload rules, which the codec docs call out as a normal event:

- *signing key rotation*: producers already sign with the new key, workers
  still check with the old one; the worker sets the payload aside
  (``reject_running``) after the fetch script marked the record RUNNING;
- *payload limits*: producers allow larger payloads than the workers; the
  fetch script sets the payload aside (``reject``) in Lua, before
  ``record_started``, leaving the record QUEUED.

Neither path finishes the record: it says RUNNING on a worker (or QUEUED)
for ever, has no TTL (only ``record_finished`` sets one), and
``Engine.cancel`` keeps answering RUNNING (a request "was sent") or QUEUED
for a job that will never run.  Dashboards show it as running; each such
job leaks a hash holding a whole payload (up to ``max_bytes``) for ever:
unbounded memory under a steady trickle of rejected jobs.
"""

from __future__ import annotations

import pytest

from spinach import JobStatus
from spinach.serialization import PayloadLimits

from .conftest import producer

OLD_KEY, NEW_KEY = b"o" * 32, b"n" * 32


@pytest.mark.parametrize(
    "producer_options, worker_options",
    [
        pytest.param(
            {"signing_key": NEW_KEY},
            ("--signing-key", OLD_KEY.hex()),
            id="signing-key-rotation",
        ),
        pytest.param(
            {"payload_limits": PayloadLimits(max_bytes=1 << 20)},
            ("--max-bytes", "4096"),
            id="payload-limits-differ",
        ),
    ],
)
def test_a_rejected_tracked_job_record_ends(
    redis_server, ledger, wait_until, producer_options, worker_options
):
    client = redis_server.client()
    spin = producer(client, ledger.namespace, **producer_options)
    job = spin.schedule("once", "x" * 8000)
    key = spin.broker.keys.job(job.id.hex)
    rejected = spin.broker.keys.rejected

    ledger.start_worker(redis_server.url, threads=2, extra=worker_options)
    wait_until(lambda: client.llen(rejected) == 1, what="the worker set the payload aside")
    assert ledger.watch(0.5, lambda e: e.startswith("run once")) is None

    record = spin.get_job(job.id)
    ttl = client.ttl(key)
    assert record is not None
    assert record.status.finished, (
        f"the record of a job set aside says {record.status.name} (worker "
        f"{record.worker_id}), TTL {ttl}: it never ends nor expires"
    )
    assert ttl > 0
    assert spin.cancel(job.id) is not JobStatus.RUNNING
