"""Failing jobs: reported once, with traceback, job information and their own breadcrumbs."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
import sentry_sdk

from spinach import AbortException, RetryException
from spinach.contrib.sentry_sdk_spinach import SpinachIntegration

from .helpers import KINDS, by_task, define, exception_of, work

app_logger = logging.getLogger("tests.sentry.app")


def crash(*args, **kwargs):
    raise ValueError("the crash of the job")


@pytest.mark.parametrize(("workers_class", "is_async"), KINDS)
def test_failing_job_is_reported_once_with_traceback_and_job(
    sentry_init, real_spin, workers_class, is_async
):
    transport = sentry_init()
    define(real_spin, "crashes", crash, is_async, queue="jobs")
    job = real_spin.schedule("crashes", 1, b=2)
    work(real_spin, workers_class, queue="jobs")

    [event] = transport.events
    exc = exception_of(event)
    assert exc["type"] == "ValueError"
    assert exc["value"] == "the crash of the job"
    assert exc["mechanism"]["type"] == "spinach"
    assert exc["mechanism"]["handled"] is False
    assert event["level"] == "error"
    # Full traceback: from the runner down to the line that raised.
    functions = [frame["function"] for frame in exc["stacktrace"]["frames"]]
    assert functions[-1] == "crash"
    assert any(frame["module"] == "spinach.runner" for frame in exc["stacktrace"]["frames"])
    assert event["tags"]["spinach.task"] == "crashes"
    assert event["tags"]["spinach.job_id"] == str(job.id)
    assert event["tags"]["spinach.queue"] == "jobs"
    assert event["tags"]["spinach.retries"] == "0"
    assert event["tags"]["spinach.namespace"] == real_spin.namespace
    assert event["tags"]["spinach.outcome"] == "failed"
    context = event["contexts"]["spinach"]
    assert context["task_name"] == "crashes"
    assert context["job_id"] == str(job.id)
    assert context["queue"] == "jobs"
    assert context["retries"] == 0
    assert context["max_retries"] == 0
    # The error is linked to the transaction of the job.
    [transaction] = transport.transactions
    assert event["transaction"] == "crashes"
    assert event["contexts"]["trace"]["trace_id"] == transaction["contexts"]["trace"]["trace_id"]


@pytest.mark.parametrize(("workers_class", "is_async"), KINDS)
def test_breadcrumbs_are_those_of_the_job_only(
    sentry_init, real_spin, caplog, workers_class, is_async
):
    caplog.set_level(logging.INFO, logger=app_logger.name)
    transport = sentry_init()
    app_logger.info("logged before the workers start")
    both_logged = threading.Barrier(2)

    def wait_for_the_other_job():
        both_logged.wait(10)

    def first():
        app_logger.info("first job says hello")
        wait_for_the_other_job()
        raise ValueError("first")

    def second():
        app_logger.info("second job says hello")
        wait_for_the_other_job()
        raise ValueError("second")

    if is_async:
        # The two coroutines share one loop: wait in the executor, not on the loop.
        async def first_async():
            app_logger.info("first job says hello")
            await asyncio.get_running_loop().run_in_executor(None, wait_for_the_other_job)
            raise ValueError("first")

        async def second_async():
            app_logger.info("second job says hello")
            await asyncio.get_running_loop().run_in_executor(None, wait_for_the_other_job)
            raise ValueError("second")

        real_spin.task(first_async, name="first")
        real_spin.task(second_async, name="second")
    else:
        real_spin.task(first, name="first")
        real_spin.task(second, name="second")
    real_spin.schedule("first")
    real_spin.schedule("second")
    work(real_spin, workers_class, number=2)  # both run at once: the barrier proves it

    for name, other in (("first", "second"), ("second", "first")):
        [event] = by_task(transport.events, name)
        messages = [crumb.get("message") for crumb in event["breadcrumbs"]["values"]]
        assert f"{name} job says hello" in messages
        assert f"{other} job says hello" not in messages
        assert "logged before the workers start" not in messages


def test_scopes_do_not_leak_between_jobs_or_to_the_worker(sentry_init, real_spin, caplog):
    caplog.set_level(logging.INFO, logger=app_logger.name)
    transport = sentry_init()

    @real_spin.task(name="tagger")
    def tagger(marker):
        sentry_sdk.set_tag("leaky", marker)
        app_logger.info("tagger %s", marker)

    @real_spin.task(name="reporter")
    def reporter():
        sentry_sdk.capture_message("from the reporter")

    real_spin.schedule("tagger", "x")
    real_spin.schedule("reporter")
    work(real_spin, number=1)  # one thread: the reporter runs after the tagger on it
    sentry_sdk.capture_message("after the workers")

    [in_job] = by_task(transport.events, "reporter")
    assert "leaky" not in in_job["tags"]
    assert not [c for c in in_job["breadcrumbs"]["values"] if "tagger" in c.get("message", "")]
    # A message captured by the task itself carries the job's tags.
    assert in_job["tags"]["spinach.task"] == "reporter"
    [after] = [e for e in transport.events if e.get("message") == "after the workers"]
    assert not any(key.startswith("spinach.") for key in after.get("tags", {}))


def flaky_clock_job(spin, clock, name, error_factory, max_retries=1):
    attempts = []

    @spin.task(name=name, max_retries=max_retries)
    def flaky():
        attempts.append(clock.time())
        raise error_factory(len(attempts))

    spin.schedule(flaky)
    return attempts


def run_two_attempts(spin, clock, transport):
    """Run the first attempt, move time past its retry date, run the second."""
    spin.start_workers(number=1, block=False)
    transport.wait_for("transaction", 1)
    clock.advance(3600)  # any backoff of a first retry is far shorter
    transport.wait_for("transaction", 2)
    spin.stop_workers()


def test_retries_are_not_reported_by_default(sentry_init, spin, clock):
    transport = sentry_init()
    attempts = flaky_clock_job(spin, clock, "flaky", lambda n: ValueError(f"attempt {n}"))
    run_two_attempts(spin, clock, transport)

    assert len(attempts) == 2
    [event] = transport.events  # the final failure only
    assert exception_of(event)["value"] == "attempt 2"
    assert event["level"] == "error"
    assert event["tags"]["spinach.retries"] == "1"
    assert event["tags"]["spinach.outcome"] == "failed"


def test_retries_are_reported_with_send_retries(sentry_init, spin, clock):
    transport = sentry_init(integrations=[SpinachIntegration(send_retries=True)])
    flaky_clock_job(spin, clock, "flaky", lambda n: ValueError(f"attempt {n}"))
    run_two_attempts(spin, clock, transport)

    retry, failure = transport.events
    assert exception_of(retry)["value"] == "attempt 1"
    assert exception_of(retry)["mechanism"] == {"type": "spinach", "handled": False}
    assert retry["level"] == "warning"
    assert retry["tags"]["spinach.outcome"] == "retry"
    assert retry["tags"]["spinach.retries"] == "0"
    assert exception_of(failure)["value"] == "attempt 2"
    assert failure["level"] == "error"
    assert failure["tags"]["spinach.outcome"] == "failed"


@pytest.mark.parametrize(
    "error_factory",
    [
        pytest.param(lambda n: RetryException(f"not yet {n}"), id="RetryException"),
        pytest.param(lambda n: AbortException(f"give up {n}"), id="AbortException"),
    ],
)
def test_control_flow_exceptions_are_never_reported(sentry_init, spin, clock, error_factory):
    # send_retries=True and the logging integration on: the strictest setting.
    transport = sentry_init(integrations=[SpinachIntegration(send_retries=True)])
    attempts = flaky_clock_job(spin, clock, "steer", error_factory, max_retries=1)
    spin.start_workers(number=1, block=False)
    transport.wait_for("transaction", 1)
    if isinstance(error_factory(0), RetryException):
        clock.advance(3600)
        transport.wait_for("transaction", 2)  # retried, then failed: out of retries
    spin.stop_workers()

    assert len(attempts) == (2 if isinstance(error_factory(0), RetryException) else 1)
    assert transport.events == []


def test_job_logger_is_ignored_so_nothing_is_reported_twice(sentry_init, real_spin):
    # The default LoggingIntegration reports ERROR records as events: the
    # runner's "job failed" record on spinach.job must not be one of them.
    transport = sentry_init()

    @real_spin.task(name="logs_and_crashes")
    def logs_and_crashes():
        app_logger.error("an error the application logs itself")
        raise KeyError("crash")

    real_spin.schedule("logs_and_crashes")
    work(real_spin)

    crashes = [e for e in transport.events if "exception" in e]
    assert len(crashes) == 1
    assert exception_of(crashes[0])["mechanism"]["type"] == "spinach"
    # The integration does not swallow the application's own logging.
    logged = [e for e in transport.events if e.get("logger") == "tests.sentry.app"]
    assert len(logged) == 1
    assert not [e for e in transport.events if e.get("logger", "").startswith("spinach")]
    assert len(transport.events) == 2


def test_job_arguments_are_not_sent_without_send_default_pii(sentry_init, real_spin):
    # Sentry's own include_local_variables is left on (its default): the
    # frames of the job hold its arguments, and the integration removes them
    # (see test_private_data.py for every kind of event).
    transport = sentry_init()
    real_spin.task(crash, name="crashes")
    real_spin.schedule("crashes", "secret-positional-4242", email="secret-kw@example.com")
    work(real_spin)

    [event] = transport.events
    assert "args" not in event["contexts"]["spinach"]
    assert "kwargs" not in event["contexts"]["spinach"]
    wire = transport.raw()
    assert b"secret-positional-4242" not in wire
    assert b"secret-kw@example.com" not in wire
    assert b"crashes" in wire  # the search itself works


@pytest.mark.filterwarnings("ignore:The send_default_pii option is deprecated:DeprecationWarning")
def test_job_arguments_are_sent_with_send_default_pii(sentry_init, real_spin):
    transport = sentry_init(send_default_pii=True)
    real_spin.task(crash, name="crashes")
    real_spin.schedule("crashes", "positional", email="kw@example.com")
    work(real_spin)

    [event] = transport.events
    assert event["contexts"]["spinach"]["args"] == ["positional"]
    assert event["contexts"]["spinach"]["kwargs"] == {"email": "kw@example.com"}
    [transaction] = transport.transactions
    assert transaction["contexts"]["spinach"]["args"] == ["positional"]


@pytest.mark.parametrize("queues", [True, False])
def test_data_collection_queues_decides_for_the_job_arguments(sentry_init, real_spin, queues):
    pytest.importorskip("sentry_sdk.data_collection", reason="sentry-sdk without data_collection")
    transport = sentry_init(data_collection={"queues": queues})
    real_spin.task(crash, name="crashes")
    real_spin.schedule("crashes", "positional")
    work(real_spin)

    [event] = transport.events
    assert ("args" in event["contexts"]["spinach"]) is queues


def test_nothing_happens_when_the_client_has_no_spinach_integration(sentry_init, real_spin):
    # First with the integration, so that its receivers are surely connected...
    sentry_init()
    sentry_sdk.get_client().close()
    # ...then a client without it: they must stay silent.
    transport = sentry_init(integrations=[], default_integrations=False)
    real_spin.task(crash, name="crashes")
    real_spin.schedule("crashes")
    work(real_spin)

    assert transport.transactions == []
    assert transport.events == []


def _retry_from(n):
    try:
        raise ConnectionError(f"backend down {n}")
    except ConnectionError as exc:
        error = RetryException(f"retry {n}")
        error.__cause__ = exc
        return error


def test_the_error_behind_a_retry_or_abort_exception_is_reported(sentry_init, spin, clock):
    # raise RetryException(...) from exc: exc is what went wrong (a mail task does so).
    transport = sentry_init(integrations=[SpinachIntegration(send_retries=True)])
    attempts = flaky_clock_job(spin, clock, "steered", _retry_from, max_retries=1)
    run_two_attempts(spin, clock, transport)

    assert len(attempts) == 2
    retry, failure = transport.events
    assert exception_of(retry)["type"] == "ConnectionError"
    assert exception_of(retry)["value"] == "backend down 1"
    assert retry["level"] == "warning"
    assert exception_of(failure)["value"] == "backend down 2"
    assert failure["level"] == "error"
