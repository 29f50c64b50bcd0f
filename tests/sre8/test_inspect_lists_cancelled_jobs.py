"""Inspection shows a cancelled job as waiting in its queue, on every broker.

Failure: a tracked job cancelled while it waits in a queue keeps its place
there (cancel marks it; the fetch that finds it drops it).
``Engine.inspect.jobs(queue)`` lists it with status QUEUED and
``inspect.queue(queue).length`` counts it, although ``get_job`` says
CANCELLED and it will never run.

Impact: the operator's view exposes jobs that are gone: a cancelled job
appears queued (a dashboard offers to act on it, alerting on queue length
fires for jobs that will never run); what inspection says disagrees with
the job's own record.

Suggested fix: leave out of ``queue_jobs`` the payloads of tracked jobs whose
record says cancel (one HMGET of the page's tracked ids in the same script /
lock as the page read), or give them the CANCELLED status; and document that
``QueueInfo.length`` counts them until a fetch drops them (or keep a per-queue
count of cancelled-in-place jobs, decremented by the fetch).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from spinach.inspection import Inspector
from spinach.job import JobStatus

_helpers = Path(__file__).parents[1] / "contract" / "helpers.py"
_spec = importlib.util.spec_from_file_location("sre8_contract_helpers", _helpers)
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def test_a_cancelled_job_is_not_listed_as_queued(broker, clock):
    kept = helpers.make_job(clock, args=("kept",))
    gone = helpers.make_job(clock, args=("gone",))
    gone.track = 600
    broker.enqueue_jobs([gone, kept])
    broker.cancel_jobs([gone.id_hex])
    assert broker.get_job(gone.id_hex).status is JobStatus.CANCELLED

    inspect = Inspector(broker)
    listed = [(job.task_args[0], job.status) for job in inspect.jobs("q")]
    assert listed == [("gone", JobStatus.CANCELLED), ("kept", JobStatus.QUEUED)], (
        "a cancelled job is listed as queued"
    )
    # Until a fetch drops it, the cancelled job keeps its place (documented in
    # QueueInfo.length); the fetch never returns it.
    assert inspect.queue("q").length == 2
    assert [job.task_args[0] for job in broker.get_jobs_from_queue("q", 10)] == ["kept"]
    assert inspect.queue("q").length == 0
