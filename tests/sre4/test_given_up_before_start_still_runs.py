"""A job given up on before its thread entered the task still runs, after it was failed.

The watchdog's clock of a threaded job starts in ThreadWorkers._run
(``Guard(time.monotonic(), timeout)``), before JobRunner.run sends
``job_started`` and calls ``guard.enter()``.  If the thread is slow to get
there (a ``job_started`` receiver that blocks: spinach-django's
``close_old_connections()`` on a dead database socket, the Flask app
context, Datadog; or simply a starved process), the watchdog finds the run
past its deadline: interrupt() does nothing (not inside), and ``grace``
seconds later give_up() succeeds because the thread has not *left*.  The
job is concluded as timed out (failed, or retried), acknowledged, its slot
goes to a new thread.

Then the old thread carries on: Guard.enter() does not look at
``abandoned``, so it calls the task function, which runs to the end.  The
docs say whatever a given-up thread does "is discarded" -- its side effects
are not: the job ran although it is recorded FAILED (and sits in the
registry of failed jobs, where an operator requeues it: a second run), or,
with retries left, runs concurrently with its own retry.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from spinach import JobStatus, signals
from spinach.exc import JobTimeoutError


def test_a_job_given_up_before_it_started_never_runs(make_engine, wait_until):
    """Fixed: the deadline runs from when the thread enters the task, so a slow start is
    never given up on (and a given-up run could never enter the task anyway)."""
    spin = make_engine()
    ns = spin.namespace
    release = threading.Event()
    timed_out = threading.Event()
    body_ran = []

    @spin.task(name="slow_start", track=True, max_retries=0, timeout=timedelta(milliseconds=100))
    def slow_start():
        body_ran.append(1)

    def on_started(namespace, job, **kwargs):
        # A receiver that is slow this time (a database connection closed).
        if job.task_name == "slow_start":
            release.wait(30)

    def on_failed(namespace, job, err=None, **kwargs):
        if job.task_name == "slow_start" and isinstance(err, JobTimeoutError):
            timed_out.set()

    signals.job_started.connect(on_started, sender=ns, weak=False)
    signals.job_failed.connect(on_failed, sender=ns, weak=False)
    try:
        job = spin.schedule(slow_start)
        spin.start_workers(number=1, block=False)
        # Longer than the timeout and the grace: the old code gave up on it here.
        assert not timed_out.wait(2.6), "a job was timed out before its task started"
        release.set()
        wait_until(lambda: spin.get_job(job.id).status is JobStatus.SUCCEEDED, 10, "ran")
        assert body_ran == [1]
        assert spin.get_failed_job(job.id) is None
    finally:
        release.set()
        spin.stop_workers()
        signals.job_started.disconnect(on_started, sender=ns)
        signals.job_failed.disconnect(on_failed, sender=ns)
