"""A job context that swallows the task's exception turns a failed job into a success.

Failure: ``JobHooks.call`` / ``JobHooks.await_`` (spinach/hooks.py) run the
task inside an ``ExitStack`` of the job contexts; when one of them returns a
true value from ``__exit__`` (a ``@contextmanager`` with ``except
Exception: report(...)`` and no ``raise``, ``contextlib.suppress``, a
tracing span whose ``__exit__`` result is passed on), the exception
disappears, ``call`` returns ``None`` and the runner concludes the job
SUCCEEDED with the value ``None``.  The docs ("a context is part of the
job: what it raises is the job's error, retried as the task's own would
be", docs/signals.md and ``Engine.add_job_context``) say nothing about a
context that hides the task's error.

Impact: failures vanish: no retry (``max_retries`` ignored), no
``job_failed`` / ``job_schedule_retry`` signal, nothing in the registry of
failed jobs, ``job_finished`` sent, ``result()`` returns ``None``.  One
error-reporting context added by an observability library (or written with
the classic ``except: log`` mistake) silently disables retries of every
task of the Engine.

Today: the job below, which raises with ``max_retries=2``, is reported
finished (``job_finished``) after its first attempt, and no retry is
scheduled, on ThreadWorkers and on AsyncioWorkers alike.

Suggested fix: a job context must not be able to decide the task's
outcome: keep the task's exception (call the task in an inner ``try`` and
re-raise it after the ``ExitStack`` exits, or treat "the task raised but
the stack returned normally" as that exception, logging a warning naming
the context); or, if suppression is meant to be a feature, document it in
docs/signals.md and ``add_job_context``.
"""

from __future__ import annotations

import contextlib
import logging

import pytest

from spinach import AsyncioWorkers, ThreadWorkers

log = logging.getLogger("sre7.reporting")


@contextlib.contextmanager
def report_errors(job):
    """An error-reporting context as commonly written: logs, forgets to re-raise."""
    try:
        yield
    except Exception:
        log.exception("job %s failed", job.id)


@pytest.mark.parametrize("workers_class", [ThreadWorkers, AsyncioWorkers])
def test_a_reporting_context_does_not_hide_the_failure(real_spin, recorder, workers_class):
    real_spin.add_job_context(report_errors)
    attempts = []

    @real_spin.task(name="charge", max_retries=2)
    def charge():
        attempts.append(1)
        raise ConnectionError("the payment provider timed out")

    real_spin.schedule(charge)
    real_spin.start_workers(number=1, stop_when_queue_empty=True, workers_class=workers_class)

    # The first attempt raised: a retry is due later (stop_when_queue_empty
    # does not wait for it).
    assert recorder.count("job_schedule_retry") == 1, (
        f"the task raised on its {len(attempts)} attempt(s), but "
        f"{recorder.count('job_finished')} job_finished, "
        f"{recorder.count('job_schedule_retry')} job_schedule_retry and "
        f"{recorder.count('job_failed')} job_failed signals were sent"
    )
