"""Signals sent when something happens in Spinach.

Subscribe with ``connect``, or with ``connect_via(namespace)`` to hear only
one Engine::

    from spinach import signals

    @signals.job_started.connect_via('prod')
    def job_started(namespace, job, **kwargs):
        ...

The first argument a receiver gets is always the namespace of the Engine.
An exception raised by a receiver is logged on the ``spinach.signals``
logger and never breaks the job or the worker.

All the signals of one job (``job_started``, then ``job_schedule_retry`` or
``job_failed``, then ``job_finished``) are sent from the thread, or the
asyncio task, that runs the job, and every job runs in a fresh copy of the
:mod:`contextvars` context.  A receiver can therefore keep per-job state in
a context variable: it is visible to the task and to the later signals of
the same job, and to no other job.  ``job_failed`` is also sent, with no
``job_started`` before it, for a non-retryable job lost with a dead worker.
"""

from __future__ import annotations

import logging
from typing import Any, List, Optional, Tuple

from blinker import NamedSignal

__all__ = [
    "SafeNamedSignal",
    "job_failed",
    "job_finished",
    "job_schedule_retry",
    "job_started",
    "worker_started",
    "worker_terminated",
]

logger = logging.getLogger(__name__)


class SafeNamedSignal(NamedSignal):
    """A named blinker signal whose receivers cannot break the sender.

    ``send`` calls every receiver even if some raise; each exception is
    logged on the ``spinach.signals`` logger with its traceback.
    """

    def send(
        self, sender: Any = None, /, *, _async_wrapper: Any = None, **kwargs: Any
    ) -> List[Tuple[Any, Any]]:
        """Send the signal to its receivers, logging and swallowing their errors."""
        if not self.receivers:
            return []
        results: List[Tuple[Any, Any]] = []
        for receiver in self.receivers_for(sender):
            try:
                result: Optional[Any] = receiver(sender, **kwargs)
            except Exception:
                logger.exception(
                    "Error in receiver %r of signal %r (namespace %r)",
                    getattr(receiver, "__qualname__", receiver),
                    self.name,
                    sender,
                )
                result = None
            results.append((receiver, result))
        return results

    def __repr__(self) -> str:
        return f'SafeNamedSignal "{self.name}"'


job_started = SafeNamedSignal(
    "job_started",
    doc="""Sent by a worker when a job starts being executed.

Receivers get ``namespace`` and ``job``.""",
)

job_finished = SafeNamedSignal(
    "job_finished",
    doc="""Sent by a worker when a job finishes execution, whatever the outcome.

Receivers get ``namespace`` and ``job``.""",
)

job_schedule_retry = SafeNamedSignal(
    "job_schedule_retry",
    doc="""Sent by a worker when a job gets rescheduled for retry.

Receivers get ``namespace``, ``job`` and ``err``, the exception that made
the job retry.""",
)

job_failed = SafeNamedSignal(
    "job_failed",
    doc="""Sent by a worker when a job failed and will not be retried.

Receivers get ``namespace``, ``job`` and ``err``, the exception that made the
job fail (:class:`~spinach.exc.JobLostError` for a job lost with a dead
worker).""",
)

worker_started = SafeNamedSignal(
    "worker_started",
    doc="""Sent by a worker when it starts.

Receivers get ``namespace`` and ``worker_name``.""",
)

worker_terminated = SafeNamedSignal(
    "worker_terminated",
    doc="""Sent by a worker when it shuts down.

Receivers get ``namespace`` and ``worker_name``.""",
)
