"""A worker killed while holding a rate-limit slot blocks its task for a whole period.

Failure: the issue asks that "a worker killed while holding a rate-limit
slot does not block the task past the dead threshold". Commit 3181966 does
the opposite and says so ("A dead worker's starts hold the window for one
period at most"): the start a worker counted in ``{ns}:rate:<task>`` when it
fetched the job stays in the window after the worker is declared dead, and
its job, adopted and retried by a live worker, is refused by that very start
and sent to the future jobs until the dead worker's start leaves the window.
Nothing removes a dead worker's starts (heartbeat.lua adopts ``running:``
and ``adopted:`` but never touches the rate windows; MemoryBroker the same).

With ``rate_limit="1/h"`` (a nightly export, a paid API allowing one call an
hour) and a 10 s dead threshold, a worker OOM-killed just after it fetched
the job leaves the task blocked for an hour: the recovered job, the only
one of the task, waits 3600 s instead of ~10 s.  With ``"1/d"`` it is a day,
with the 30 days the option allows, a month.

Impact: the pager runbook "the worker died, it will be retried after the
dead threshold" is false for rate-limited tasks; the task silently stops
for up to a period after every crash or kill -9 of a worker (deploys with
SIGKILL after a grace period, OOM kills, node loss).

Suggested fix: when a worker is declared dead, remove its starts of the
jobs it adopted from the windows (members are ``<date>:<job id>``: the
adopter knows the ids it took over), or record the start under the worker
id and drop the dead worker's entries in heartbeat.lua / check_dead_workers.
"""

from __future__ import annotations

import sys
from pathlib import Path

from spinach.job import JobStatus
from spinach.task import Task

sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))
from helpers import heartbeat_for, make_job

HOUR = 3600.0
THRESHOLD = 10


def _worker(backend):
    broker = backend.broker(broker_dead_threshold_seconds=THRESHOLD)
    broker.start()
    broker.set_concurrency_keys(
        [Task(lambda: None, "export", "q", 3, None, None, rate_limit=(1, HOUR))]
    )
    return broker


def test_the_job_of_a_killed_worker_runs_again_after_the_dead_threshold(backend, clock):
    doomed, live = _worker(backend), _worker(backend)
    doomed.enqueue_jobs([make_job(clock, "export", max_retries=3)])
    [job] = doomed.get_jobs_from_queue("q", 1)  # then its process is SIGKILLed

    # A few dead thresholds later the live worker declared it dead and
    # retried its job (JobLostError, retries left).
    heartbeat_for(6 * THRESHOLD, clock, live)
    live.move_future_jobs()
    rerun = live.get_jobs_from_queue("q", 1)
    waiting = live.future_jobs_count()
    assert [j.id for j in rerun] == [job.id], (
        f"{6 * THRESHOLD} s after the kill (dead threshold {THRESHOLD} s) the recovered job "
        f"has not started: {waiting} job(s) wait in the future jobs, held back by the dead "
        f"worker's own start, for up to {HOUR:.0f} s"
    )
    for j in rerun:
        j.status = JobStatus.SUCCEEDED
    live.acknowledge(rerun)
