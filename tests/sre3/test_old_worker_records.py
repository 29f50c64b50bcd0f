"""A tracked job run by a worker of the previous version keeps a QUEUED record for ever.

Scenario (production, a rolling deploy, which docs/production.md supports:
"Old and new workers may share queues for a while"): new producers schedule
tracked jobs; a worker of the previous version (fe71170) fetches and runs
one.  Its scripts know nothing of records: the record is never marked
RUNNING nor finished, so it

- says QUEUED while the job runs and after it succeeded, for ever (no TTL:
  only ``record_finished`` sets one): a leak per job for the whole deploy;
- makes ``Engine.cancel`` return ``QUEUED``, a status its documentation
  never returns ("CANCELLED", "RUNNING" or a final one), having done
  nothing (LREM/ZREM find no copy, cancel.lua leaves the record as it is).

The old worker runs in a process of its own, from the sources of fe71170
(``git archive``), with the same Redis and namespace.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from spinach import JobStatus

from .conftest import producer

OLD_COMMIT = "fe71170"
REPO = Path(__file__).parents[2]
OLD_APP = Path(__file__).with_name("old_worker.py")


def _old_sources(where: Path) -> str:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", OLD_COMMIT, "packages/spinach-core/src",
         "packages/spinach-redis/src"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
            tar.extractall(where, filter="data")
        else:  # our own repository's archive: trusted
            tar.extractall(where)
    return f"{where}/packages/spinach-core/src:{where}/packages/spinach-redis/src"


def _run_on_an_old_worker(redis_server, ledger, tmp_path, monkeypatch, wait_until):
    monkeypatch.setenv("PYTHONPATH", _old_sources(tmp_path / "old"))
    ledger.start_worker(redis_server.url, threads=2, app=OLD_APP)
    identity = ledger.wait_event(lambda e: e.startswith("identity"))
    assert str(tmp_path) in identity, f"the old worker imported the new sources: {identity}"

    client = redis_server.client()
    spin = producer(client, ledger.namespace)
    job = spin.schedule("once", "tok")
    ledger.wait_event(lambda e: e.startswith("run once tok"))
    keys = spin.broker.keys
    wait_until(
        lambda: (
            client.llen(keys.queue("spinach")) == 0
            and not any(client.hlen(k) for k in client.keys(keys.prefix + "running:*"))
        ),
        what="the old worker acknowledged the job",
    )
    return client, spin, job


def test_the_record_of_a_job_run_by_an_old_worker_is_bounded(
    redis_server, ledger, tmp_path, monkeypatch, wait_until
):
    """What the fix guarantees: the record expires (no leak), cancel answers as documented."""
    client, spin, job = _run_on_an_old_worker(
        redis_server, ledger, tmp_path, monkeypatch, wait_until
    )
    ttl = client.ttl(spin.broker.keys.job(job.id.hex))
    assert 0 < ttl <= 31 * 86400 + 86400, f"the record never expires (TTL {ttl})"
    assert spin.cancel(job.id) in (JobStatus.CANCELLED, JobStatus.RUNNING)


@pytest.mark.xfail(
    strict=True,
    reason="documented limit (docs/following-jobs.md, 'Deploying'): workers of versions that "
    "keep no records cannot write them; the record says QUEUED until it expires",
)
def test_a_tracked_job_run_by_an_old_worker_ends_its_record(
    redis_server, ledger, tmp_path, monkeypatch, wait_until
):
    _, spin, job = _run_on_an_old_worker(redis_server, ledger, tmp_path, monkeypatch, wait_until)
    record = spin.get_job(job.id)
    assert record.status is JobStatus.SUCCEEDED
