"""Datadog APM integration for Spinach: a ``spinach.task`` span per job.

Register it before starting workers::

    from spinach import Engine, MemoryBroker
    from spinach.contrib.datadog import register_datadog

    register_datadog()

    spin = Engine(MemoryBroker())
    spin.start_workers()

This only traces Spinach jobs; other libraries are patched by ``ddtrace``
itself (``ddtrace-run`` or ``import ddtrace.auto``), as its documentation
explains.

Each run of a job is one span:

- name ``spinach.task``, resource the task name, span type ``worker``;
- tags ``span.kind=consumer``, ``component=spinach``, ``job.id``,
  ``queue.name``, ``spinach.namespace`` and ``spinach.outcome``
  (``succeeded``, ``retry`` or ``failed``), metrics ``job.retries`` and
  ``job.max_retries``;
- it is active while the task runs, so the spans of the task (database,
  HTTP...) are its children, on threaded and asyncio workers alike;
- the exception of a failed job, or of a run that will be retried, is
  recorded with :meth:`ddtrace.trace.Span.set_exc_info` (type, message and
  traceback); a :class:`~spinach.RetryException` that asks for a retry is
  not an error, but a job that fails is one, whatever the exception.

A job that fails without having started (lost with a dead worker, or of a
task the worker does not know) gets a span of its own, marked as an error.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Dict, Optional

from ddtrace.constants import ERROR_MSG, ERROR_TYPE, SPAN_KIND
from ddtrace.ext import SpanKind, SpanTypes
from ddtrace.trace import Span, Tracer

from spinach import signals
from spinach.exc import RetryException
from spinach.job import Job, JobStatus

from ._version import __version__

__all__ = ["DEFAULT_SERVICE", "SPAN_NAME", "__version__", "register_datadog", "unregister_datadog"]

logger = logging.getLogger("spinach.contrib.datadog")

#: Name of the span of a job.
SPAN_NAME = "spinach.task"


class _DefaultService(str):
    """The default of ``service``, told apart from the same name given explicitly."""

    __slots__ = ()


#: Default ``service`` of :func:`register_datadog`: ``DD_SPINACH_SERVICE``,
#: else ``DD_SERVICE``, else ``"spinach"``.  It compares equal to ``"spinach"``.
DEFAULT_SERVICE: str = _DefaultService("spinach")


@dataclass(frozen=True)
class _Registration:
    tracer: Tracer
    service: str


@dataclass
class _JobSpan:
    job_id: uuid.UUID
    span: Span
    outcome: Optional[str] = None


class _State:
    """The registrations of the process; nothing is registered at import."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # By namespace (None: every namespace).  Replaced, never mutated, so
        # that receivers read it without the lock.
        self.registrations: Dict[Optional[str], _Registration] = {}
        # Spans started and not finished yet: the receivers that finish them
        # stay connected until the last one is finished, even once unregistered.
        self.open_spans = 0


_state = _State()

# Every job runs in a fresh copy of the contextvars context and all of its
# signals are sent from it: this variable is per job, never shared.
_current: ContextVar[Optional[_JobSpan]] = ContextVar("spinach_contrib_datadog_span", default=None)


def register_datadog(
    tracer: Optional[Tracer] = None,
    namespace: Optional[str] = None,
    service: str = DEFAULT_SERVICE,
) -> None:
    """Register the Datadog integration.

    :arg tracer: optionally use a custom ddtrace Tracer instead of the
        global one (``ddtrace.trace.tracer``).
    :arg namespace: optionally only register the Datadog integration for a
        particular Spinach Engine (its namespace).
    :arg service: Datadog service associated with the trace.  When it is not
        given, it is read once, now, from ``DD_SPINACH_SERVICE``, else
        ``DD_SERVICE``, else it is ``"spinach"``.  A service given
        explicitly, ``"spinach"`` included, always wins.

    Registering again for the same namespace replaces the previous
    registration, so a job never gets two spans.  A registration for one
    namespace takes precedence over a registration for all of them.
    """
    if namespace is not None and not isinstance(namespace, str):
        raise TypeError(f"namespace must be a str or None, not {type(namespace).__name__}")
    if not isinstance(service, str) or not service:
        raise ValueError(f"service must be a non-empty str, not {service!r}")
    if tracer is None:
        from ddtrace.trace import tracer as global_tracer

        tracer = global_tracer
    registration = _Registration(tracer, _resolve_service(service))
    with _state.lock:
        first = not _state.registrations
        _state.registrations = {**_state.registrations, namespace: registration}
        if first:
            _connect()
    logger.debug(
        "Datadog integration registered for %s, service %r",
        "every namespace" if namespace is None else f"namespace {namespace!r}",
        registration.service,
    )


def unregister_datadog(namespace: Optional[str] = None) -> bool:
    """Remove the registration made for ``namespace`` (``None``: the one for all).

    Jobs already running still finish their span.  Return whether there was
    such a registration.  Once no registration is left and every span is
    finished, the integration is disconnected from Spinach's signals.
    """
    with _state.lock:
        registrations = _state.registrations
        if namespace not in registrations:
            return False
        _state.registrations = {k: v for k, v in registrations.items() if k != namespace}
        if not _state.registrations:
            signals.job_started.disconnect(_on_job_started)
            if not _state.open_spans:
                _disconnect()
    return True


def _resolve_service(service: str) -> str:
    if not isinstance(service, _DefaultService):
        return service
    for variable in ("DD_SPINACH_SERVICE", "DD_SERVICE"):
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    return str(service)


def _connect() -> None:
    signals.job_started.connect(_on_job_started, weak=False)
    signals.job_schedule_retry.connect(_on_job_schedule_retry, weak=False)
    signals.job_failed.connect(_on_job_failed, weak=False)
    signals.job_finished.connect(_on_job_finished, weak=False)


def _disconnect() -> None:
    signals.job_started.disconnect(_on_job_started)
    signals.job_schedule_retry.disconnect(_on_job_schedule_retry)
    signals.job_failed.disconnect(_on_job_failed)
    signals.job_finished.disconnect(_on_job_finished)


def _registration(namespace: str) -> Optional[_Registration]:
    registrations = _state.registrations
    return registrations.get(namespace) or registrations.get(None)


def _span_of(job: Job) -> Optional[_JobSpan]:
    current = _current.get()
    if current is None or current.job_id != job.id:
        return None
    return current


def _start_span(registration: _Registration, namespace: str, job: Job) -> Span:
    span = registration.tracer.trace(
        SPAN_NAME,
        service=registration.service,
        resource=job.task_name,
        span_type=SpanTypes.WORKER,
    )
    span.set_tag(SPAN_KIND, SpanKind.CONSUMER)
    span.set_tag("component", "spinach")
    span.set_tag("job.id", str(job.id))
    span.set_tag("queue.name", job.queue)
    span.set_tag("spinach.namespace", namespace)
    span.set_metric("job.retries", job.retries)
    span.set_metric("job.max_retries", job.max_retries)
    return span


def _on_job_started(namespace: str, job: Job, **kwargs: Any) -> None:
    registration = _registration(namespace)
    if registration is None:
        return
    stale = _current.get()
    if stale is not None:  # never leave a span open, whatever happened before
        _finish(stale, "failed")
    with _state.lock:
        _state.open_spans += 1
    try:
        _current.set(_JobSpan(job.id, _start_span(registration, namespace, job)))
    except BaseException:
        _span_closed()
        raise


def _on_job_schedule_retry(namespace: str, job: Job, err: BaseException, **kwargs: Any) -> None:
    current = _span_of(job)
    if current is None:
        return
    current.outcome = "retry"
    if not isinstance(err, RetryException):
        _record_error(current.span, err)


def _on_job_failed(namespace: str, job: Job, err: BaseException, **kwargs: Any) -> None:
    current = _span_of(job)
    if current is not None:
        current.outcome = "failed"
        _record_error(current.span, err)
        return
    # No job_started before: a job lost with a dead worker, or of a task this
    # worker does not know.  It still gets its span, an error, closed at once.
    registration = _registration(namespace)
    if registration is None:
        return
    span = _start_span(registration, namespace, job)
    span.set_tag("spinach.outcome", "failed")
    _record_error(span, err)
    span.finish()


def _on_job_finished(namespace: str, job: Job, **kwargs: Any) -> None:
    # No check of the registration here: whatever opened the span must close it.
    current = _span_of(job)
    if current is None:
        return
    _finish(current, "succeeded" if job.status == JobStatus.SUCCEEDED else "failed")


def _finish(current: _JobSpan, outcome: str) -> None:
    _current.set(None)
    try:
        current.span.set_tag("spinach.outcome", current.outcome or outcome)
        current.span.finish()
    finally:
        _span_closed()


def _span_closed() -> None:
    with _state.lock:
        _state.open_spans -= 1
        if not _state.open_spans and not _state.registrations:
            _disconnect()


def _record_error(span: Span, err: BaseException) -> None:
    if err.__traceback__ is not None:
        span.set_exc_info(type(err), err, err.__traceback__)
    else:
        # set_exc_info records nothing without a traceback (an exception made,
        # not raised, like JobLostError): record type and message by hand.
        span.error = 1
        span.set_tag(ERROR_TYPE, f"{type(err).__module__}.{type(err).__name__}")
        span.set_tag(ERROR_MSG, str(err))
