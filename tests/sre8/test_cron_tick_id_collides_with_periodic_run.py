"""A cron tick's id is the id of another task's periodic run.

Failure: ``cron_job_id(ns, name, at)`` hashes ``"{ns}:<name>|cron|<at>"`` and
``periodic_job_id(ns, name, at)`` hashes ``"{ns}:<name>|<at>"``. Task names
may contain ``|`` (only queue and namespace names are restricted), so the
tick of cron task ``report`` and the run of periodic task ``report|cron`` due
at the same time get the same job id: the separation the review commit
promised ("cron ticks get ids of their own") does not hold.

Impact: two different jobs share one id. Fetched together, the second
overwrites the first in the worker's running hash (one is lost if the worker
dies and is recovered: duplicate/loss), their records, results and cancels
are one (cancelling one cancels the other, ``get_job`` shows the wrong task).

Suggested fix: make the hashed text unambiguous: a kind prefix before the
name (``"cron|{ns}:<token>|<at>"``), or a length prefix / JSON encoding of the
name, so no task name can reproduce another kind's text.
"""

from __future__ import annotations

from spinach.job import cron_job_id, periodic_job_id


def test_a_cron_tick_id_is_not_a_periodic_run_id():
    at = 1_790_000_000.0
    assert cron_job_id("ns", "report", at) != periodic_job_id("ns", "report|cron", at)
