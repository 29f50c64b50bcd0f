"""Sentry integration for Spinach: failing jobs reported, every job traced.

Register it when initialising the Sentry SDK, before starting workers::

    import sentry_sdk

    from spinach.contrib.sentry_sdk_spinach import SpinachIntegration

    sentry_sdk.init(
        dsn="https://<key>@<organisation>.ingest.sentry.io/<project>",
        integrations=[SpinachIntegration(send_retries=False)],
        traces_sample_rate=1.0,  # performance monitoring of the jobs
    )

From then on, for the jobs run by the workers of every Engine of the
process, threaded and asyncio workers alike:

- each job runs in its own Sentry isolation scope, so the breadcrumbs (log
  records) of a report are those of that job only, and the tags
  ``spinach.task``, ``spinach.job_id``, ``spinach.queue``,
  ``spinach.retries`` and ``spinach.namespace`` and the ``spinach`` context
  are on every event sent while the job runs, including the task's own
  ``sentry_sdk.capture_*`` calls;
- each run of a job is one performance transaction: op
  ``queue.task.spinach``, named after the task (source ``task``), status
  ``ok`` or ``internal_error`` (see below), tagged ``spinach.outcome``
  (``succeeded``, ``retry`` or ``failed``);
- a job that fails is reported once, with its full traceback, as an
  unhandled exception of mechanism ``spinach``; this includes jobs lost
  with a dead worker (:class:`~spinach.exc.JobLostError`) and jobs of a
  task the worker does not know (:class:`~spinach.exc.UnknownTaskError`);
- an exception that makes a job retry is reported, at level ``warning``,
  only with ``send_retries=True``;
- :class:`~spinach.RetryException` and :class:`~spinach.AbortException`
  steer retries and are never reported as crashes; raised ``from`` an
  error, that error is reported instead (as a retry or a failure);
- the ``spinach.job`` logger, on which Spinach logs every failure and every
  lost job, is ignored by Sentry's logging integration: the failures it logs
  are the ones reported above, so nothing is reported twice;
- the data of a job stays out of Sentry unless the client's settings or the
  integration's options let it go (see :class:`SpinachIntegration`): by
  default, with ``send_default_pii=False``, no event sent from a job (its
  failure, what the task captures or logs, its transaction) carries the
  job's arguments or the local variables of any frame of its stack.

In the span streaming mode of recent SDKs (``trace_lifecycle="stream"``),
which has no transactions, errors are reported as above and no transaction
is started.

The transaction of a run is ``ok`` when the task returned, or when it asked
for a retry with :class:`~spinach.RetryException`; it is ``internal_error``
when an exception will make the job retry, and when the job failed.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Optional, cast

import sentry_sdk
from sentry_sdk.integrations import Integration
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.scope import Scope, add_global_event_processor
from sentry_sdk.tracing import Span
from sentry_sdk.utils import event_from_exception

from spinach import signals
from spinach.exc import AbortException, RetryException
from spinach.job import Job, JobStatus

from ._privacy import (
    JOB_ID_TAG,
    attach_stacktrace_without_variables,
    is_job_event,
    job_data_allowed,
    strip_local_variables,
)
from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from sentry_sdk.types import Event, Hint

__all__ = ["SpinachIntegration", "__version__"]

logger = logging.getLogger("spinach.contrib.sentry")

#: Operation of the transaction of a job.
OP = "queue.task.spinach"
#: Origin of the transactions this integration starts.
ORIGIN = "auto.queue.spinach"
#: Mechanism of the exceptions this integration captures.
MECHANISM = "spinach"
#: Logger on which the Spinach runner logs job failures and retries.
JOB_LOGGER = "spinach.job"

_CONTROL_FLOW = (RetryException, AbortException)


class SpinachIntegration(Integration):
    """Report failing Spinach jobs to Sentry and trace every job.

    :arg send_retries: also report the exceptions that make a job retry
        (at level ``warning``); by default only the final failure of a job
        is reported.
    :arg include_local_variables: whether the events sent from a job keep
        the local variables of their stack frames, which hold the job's
        arguments: in the task's frame, in every function it calls and in
        Spinach's own frames.  ``None`` (the default) follows the client:
        they are kept only with ``send_default_pii=True`` (or, on SDKs with
        ``data_collection``, when its ``queues`` category is on).  ``False``
        removes them whatever the client says; ``True`` keeps them.  Only
        what the SDK collected can be kept: with the client's own
        ``include_local_variables=False`` there are none.
    :arg send_job_arguments: whether the ``spinach`` context of the events
        of a job lists its ``args`` and ``kwargs``; ``None`` (the default)
        follows the client as above.
    """

    identifier = "spinach"
    origin = ORIGIN

    def __init__(
        self,
        send_retries: bool = False,
        *,
        include_local_variables: Optional[bool] = None,
        send_job_arguments: Optional[bool] = None,
    ) -> None:
        if not isinstance(send_retries, bool):
            raise TypeError(f"send_retries must be a bool, not {type(send_retries).__name__}")
        for name, value in (
            ("include_local_variables", include_local_variables),
            ("send_job_arguments", send_job_arguments),
        ):
            if value is not None and not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool or None, not {type(value).__name__}")
        self.send_retries = send_retries
        self.include_local_variables = include_local_variables
        self.send_job_arguments = send_job_arguments

    def __repr__(self) -> str:
        options = [f"send_retries={self.send_retries!r}"]
        for name in ("include_local_variables", "send_job_arguments"):
            value = getattr(self, name)
            if value is not None:
                options.append(f"{name}={value!r}")
        return f"SpinachIntegration({', '.join(options)})"

    @staticmethod
    def setup_once() -> None:
        """Hook into Spinach; called once per process by ``sentry_sdk.init``.

        The signal receivers and the event processor stay connected for the
        life of the process, as Sentry integrations do; the receivers do
        nothing while the current Sentry client has no
        :class:`SpinachIntegration`.
        """
        ignore_logger(JOB_LOGGER)
        add_global_event_processor(_keep_job_data_private)
        signals.job_started.connect(_on_job_started, weak=False)
        signals.job_schedule_retry.connect(_on_job_schedule_retry, weak=False)
        signals.job_failed.connect(_on_job_failed, weak=False)
        signals.job_finished.connect(_on_job_finished, weak=False)
        logger.debug("Spinach integration set up")


@dataclass
class _JobRun:
    """What the integration opened for the run of one job."""

    job_id: uuid.UUID
    exit_stack: contextlib.ExitStack
    transaction: Optional[Span] = None
    outcome: Optional[str] = None
    status: Optional[str] = None


# Every job runs in a fresh copy of the contextvars context and all of its
# signals are sent from it: this variable is per job, never shared.
_current_run: ContextVar[Optional[_JobRun]] = ContextVar("spinach_contrib_sentry_run", default=None)


def _integration() -> Optional[SpinachIntegration]:
    return sentry_sdk.get_client().get_integration(SpinachIntegration)


def _run_of(job: Job) -> Optional[_JobRun]:
    run = _current_run.get()
    if run is None or run.job_id != job.id:
        return None
    return run


def _keep_job_data_private(event: Event, hint: Hint) -> Optional[Event]:
    """Remove the local variables of the frames of a job's events, unless allowed.

    A global event processor: it sees every event (errors, messages, log
    records, transactions) before ``before_send``, and acts on those sent
    while a job runs in this context or from a scope forked from a job's.
    It must not fail open: an event it could not clean is not sent.
    """
    __tracebackhide__ = True  # not a frame of the job's stack (see current_stacktrace)
    data = cast(Dict[str, Any], event)
    if _current_run.get() is None and not is_job_event(data):
        return event
    try:
        client = sentry_sdk.get_client()
        integration = client.get_integration(SpinachIntegration)
        if not job_data_allowed(
            None if integration is None else integration.include_local_variables
        ):
            strip_local_variables(data)
            attach_stacktrace_without_variables(data, client.options)
    except Exception:  # pragma: no cover - fail closed: drop what could not be cleaned
        return None
    return event


def _on_job_started(namespace: str, job: Job, **kwargs: Any) -> None:
    if _integration() is None:
        return
    stale = _current_run.get()
    if stale is not None:  # never leave a scope open, whatever happened before
        _current_run.set(None)
        _close(stale, JobStatus.FAILED)
    run = _JobRun(job.id, contextlib.ExitStack())
    _current_run.set(run)
    scope = run.exit_stack.enter_context(sentry_sdk.isolation_scope())
    _describe(scope, namespace, job)
    if _span_streaming():
        return  # transactions do not exist in that mode (see _span_streaming)
    transaction = sentry_sdk.start_transaction(
        name=job.task_name,
        op=OP,
        source="task",
        origin=ORIGIN,
        custom_sampling_context={"spinach_job": _sampling_context(namespace, job)},
    )
    run.transaction = run.exit_stack.enter_context(transaction)
    transaction.set_data("messaging.system", "spinach")
    transaction.set_data("messaging.message.id", str(job.id))
    transaction.set_data("messaging.destination.name", job.queue)
    transaction.set_data("messaging.message.retry.count", job.retries)


def _on_job_schedule_retry(namespace: str, job: Job, err: BaseException, **kwargs: Any) -> None:
    integration = _integration()
    run = _run_of(job)
    if run is not None:
        run.outcome = "retry"
        run.status = "ok" if isinstance(err, RetryException) else "internal_error"
    reported = _reportable(err)
    if integration is None or not integration.send_retries or reported is None:
        return
    _report(namespace, job, reported, "warning", "retry", run)


def _on_job_failed(namespace: str, job: Job, err: BaseException, **kwargs: Any) -> None:
    integration = _integration()
    run = _run_of(job)
    if run is not None:
        run.outcome = "failed"
        run.status = "internal_error"
    reported = _reportable(err)
    if integration is None or reported is None:
        return
    _report(namespace, job, reported, "error", "failed", run)


def _reportable(err: BaseException) -> Optional[BaseException]:
    """The error to report for ``err``, or ``None``.

    :class:`~spinach.RetryException` and :class:`~spinach.AbortException`
    steer retries and are not errors themselves; raised ``from`` an error
    (``raise RetryException(...) from exc``), that error is what went wrong,
    and is reported.
    """
    if not isinstance(err, _CONTROL_FLOW):
        return err
    cause = err.__cause__
    if cause is None or isinstance(cause, _CONTROL_FLOW):
        return None
    return cause


def _on_job_finished(namespace: str, job: Job, **kwargs: Any) -> None:
    # No check of the client here: whatever opened the scope must close it.
    run = _run_of(job)
    if run is None:
        return
    _current_run.set(None)
    _close(run, job.status)


def _close(run: _JobRun, status: JobStatus) -> None:
    transaction = run.transaction
    if transaction is not None:
        succeeded = status == JobStatus.SUCCEEDED
        outcome = run.outcome or ("succeeded" if succeeded else "failed")
        transaction.set_tag("spinach.outcome", outcome)
        transaction.set_status(run.status or ("ok" if succeeded else "internal_error"))
    run.exit_stack.close()


def _report(
    namespace: str,
    job: Job,
    err: BaseException,
    level: str,
    outcome: str,
    run: Optional[_JobRun],
) -> None:
    client = sentry_sdk.get_client()
    event, hint = event_from_exception(
        err,
        client_options=client.options,
        mechanism={"type": MECHANISM, "handled": False},
    )
    event["level"] = level  # type: ignore[typeddict-item]
    event.setdefault("tags", {})["spinach.outcome"] = outcome
    if run is not None:
        sentry_sdk.capture_event(event, hint=hint)
        return
    # No job_started before: a job lost with a dead worker, or of a task this
    # worker does not know.  Describe it in a scope of its own, closed at once.
    with sentry_sdk.isolation_scope() as scope:
        _describe(scope, namespace, job)
        sentry_sdk.capture_event(event, hint=hint)


def _describe(scope: Scope, namespace: str, job: Job) -> None:
    """Put the job on the (new) isolation scope, and only this job."""
    # The scopes were forked from the worker's: drop what happened before.
    scope.clear_breadcrumbs()
    sentry_sdk.get_current_scope().clear_breadcrumbs()
    scope.set_tag("spinach.task", job.task_name)
    scope.set_tag(JOB_ID_TAG, str(job.id))  # also what marks the events of a job
    scope.set_tag("spinach.queue", job.queue)
    scope.set_tag("spinach.retries", str(job.retries))
    scope.set_tag("spinach.namespace", namespace)
    scope.set_context("spinach", _job_context(namespace, job))


def _job_context(namespace: str, job: Job) -> Dict[str, Any]:
    context: Dict[str, Any] = {
        "task_name": job.task_name,
        "job_id": str(job.id),
        "queue": job.queue,
        "namespace": namespace,
        "retries": job.retries,
        "max_retries": job.max_retries,
        "scheduled_at": job.at.isoformat(),
    }
    integration = _integration()
    if job_data_allowed(None if integration is None else integration.send_job_arguments):
        context["args"] = list(job.task_args)
        context["kwargs"] = dict(job.task_kwargs)
    return context


def _span_streaming() -> bool:
    """Whether the client runs in the span streaming mode of recent SDKs.

    That mode has no transactions (``start_transaction`` warns and does
    nothing); the integration then only reports errors.
    """
    try:
        from sentry_sdk.tracing_utils import has_span_streaming_enabled
    except ImportError:  # an SDK older than that mode
        return False
    return bool(has_span_streaming_enabled(sentry_sdk.get_client().options))


def _sampling_context(namespace: str, job: Job) -> Dict[str, Any]:
    # Given to the user's traces_sampler only, never sent to Sentry.
    return {
        "task_name": job.task_name,
        "job_id": str(job.id),
        "queue": job.queue,
        "namespace": namespace,
        "retries": job.retries,
        "max_retries": job.max_retries,
        "args": job.task_args,
        "kwargs": job.task_kwargs,
    }
