"""Test helpers: a public ddtrace trace filter that records and drops traces."""

from __future__ import annotations

import threading
from typing import Optional

import pytest
from ddtrace.trace import Span, TraceFilter

from spinach import AsyncioWorkers, Engine, ThreadWorkers, signals
from spinach.contrib import datadog
from spinach.contrib.datadog import SPAN_NAME


class RecordingFilter(TraceFilter):
    """Keeps every finished trace and drops it, so that nothing is exported."""

    def __init__(self) -> None:
        self.traces: list[list[Span]] = []
        self._cond = threading.Condition()

    def process_trace(self, trace: list[Span]) -> Optional[list[Span]]:
        with self._cond:
            self.traces.append(list(trace))
            self._cond.notify_all()
        return None

    @property
    def spans(self) -> list[Span]:
        with self._cond:
            return [span for trace in self.traces for span in trace]

    def job_spans(self, resource: str | None = None) -> list[Span]:
        """The ``spinach.task`` spans, in the order they finished."""
        return [
            span
            for span in self.spans
            if span.name == SPAN_NAME and (resource is None or span.resource == resource)
        ]

    def wait_for_job_spans(self, count: int, timeout: float = 10.0) -> list[Span]:
        """Wait until ``count`` job spans were finished; fail the test otherwise."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self._job_spans_locked()) >= count, timeout)
        got = self.job_spans()
        assert ok, f"{count} job spans expected within {timeout} s, got {got}"
        return got

    def _job_spans_locked(self) -> list[Span]:
        return [span for trace in self.traces for span in trace if span.name == SPAN_NAME]


def work(
    engine: Engine, workers_class: type = ThreadWorkers, number: int = 2, queue: str = "spinach"
) -> None:
    """Run the engine's workers until its queue is empty and every job is done.

    Blocking: when it returns, every signal of every job has been sent.
    """
    engine.start_workers(
        number=number,
        queue=queue,
        block=True,
        stop_when_queue_empty=True,
        workers_class=workers_class,
    )


# (workers class, whether the task is a coroutine): a sync task on asyncio
# workers runs in the loop's executor, in a copy of the job's context.
KINDS = [
    pytest.param(ThreadWorkers, False, id="threads"),
    pytest.param(AsyncioWorkers, True, id="asyncio"),
    pytest.param(AsyncioWorkers, False, id="asyncio-sync-task"),
]


def define(engine, name, func, is_async, **options):
    """Register ``func`` (sync) as a task, wrapped in a coroutine if asked."""
    if is_async:

        async def task(*args, **kwargs):
            return func(*args, **kwargs)

    else:

        def task(*args, **kwargs):
            return func(*args, **kwargs)

    return engine.task(task, name=name, **options)


JOB_SIGNALS = ("job_failed", "job_finished", "job_schedule_retry", "job_started")


def connected_receivers() -> list[str]:
    """The job signals to which a receiver of the integration is connected."""
    return [
        name
        for name in JOB_SIGNALS
        if any(
            getattr(receiver, "__module__", None) == datadog.__name__
            for receiver in getattr(signals, name).receivers.values()
        )
    ]
