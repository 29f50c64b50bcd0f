"""register_datadog: service, namespace, tracer, registering twice, unregistering."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from ddtrace.trace import Tracer, tracer

from spinach import Engine, ManualClock, MemoryBroker
from spinach.arbiter import UNKNOWN_TASK_GRACE
from spinach.brokers.memory import MemoryStore
from spinach.contrib.datadog import DEFAULT_SERVICE, register_datadog, unregister_datadog

from .conftest import NO_AGENT
from .helpers import RecordingFilter, connected_receivers, work


def one_job_span(traces, engine):
    @engine.task(name="noop")
    def noop():
        pass

    engine.schedule("noop")
    work(engine)
    [span] = traces.job_spans()
    return span


@pytest.mark.parametrize(
    ("environment", "kwargs", "expected"),
    [
        pytest.param({}, {}, "spinach", id="default"),
        pytest.param({"DD_SERVICE": "web"}, {}, "web", id="DD_SERVICE"),
        pytest.param(
            {"DD_SERVICE": "web", "DD_SPINACH_SERVICE": "jobs"}, {}, "jobs", id="DD_SPINACH_SERVICE"
        ),
        pytest.param(
            {"DD_SERVICE": "web", "DD_SPINACH_SERVICE": "jobs"},
            {"service": "billing"},
            "billing",
            id="explicit",
        ),
        pytest.param(
            {"DD_SERVICE": "web", "DD_SPINACH_SERVICE": "jobs"},
            {"service": "spinach"},
            "spinach",
            id="explicit-spinach",
        ),
        pytest.param({"DD_SPINACH_SERVICE": "  "}, {}, "spinach", id="blank-variable"),
    ],
)
def test_service(traces, register, real_spin, monkeypatch, environment, kwargs, expected):
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    register(**kwargs)
    assert one_job_span(traces, real_spin).service == expected


def test_default_service_reads_like_the_documented_default():
    assert DEFAULT_SERVICE == "spinach"
    assert isinstance(DEFAULT_SERVICE, str)


def test_namespace_limits_spans_to_one_engine(traces, register, real_spin, engines):
    other = Engine(MemoryBroker(), namespace=f"{real_spin.namespace}-other")
    engines.append(other)
    for engine in (real_spin, other):

        @engine.task(name="noop")
        def noop():
            pass

        engine.schedule("noop")
    register(namespace=real_spin.namespace)
    work(real_spin)
    work(other)

    [span] = traces.job_spans()
    assert span.get_tag("spinach.namespace") == real_spin.namespace


def test_registering_twice_does_not_double_spans(traces, register, real_spin):
    register()
    register()
    register(namespace=real_spin.namespace, service="specific")
    register(namespace=real_spin.namespace, service="specific")

    @real_spin.task(name="noop")
    def noop():
        pass

    for _ in range(3):
        real_spin.schedule("noop")
    work(real_spin)

    spans = traces.job_spans()
    assert len(spans) == 3
    # The registration for the namespace wins over the one for all of them.
    assert {span.service for span in spans} == {"specific"}


def test_custom_tracer(traces, register, real_spin):
    class ApplicationTracer(Tracer):
        """A tracer of the application's own (a subclass, as ddtrace allows)."""

    custom = ApplicationTracer()
    recorder = RecordingFilter()
    custom.configure(trace_processors=[recorder])
    try:
        register(tracer=custom)

        @real_spin.task(name="noop")
        def noop():
            pass

        real_spin.schedule("noop")
        work(real_spin)
    finally:
        custom.shutdown()

    [span] = recorder.job_spans()
    assert span.resource == "noop"
    assert traces.job_spans() == []  # nothing went through the global tracer


def test_unregister(traces, real_spin):
    register_datadog()

    @real_spin.task(name="noop")
    def noop():
        pass

    real_spin.schedule("noop")
    work(real_spin)
    assert unregister_datadog() is True
    assert unregister_datadog() is False
    assert unregister_datadog("never-registered") is False
    real_spin.schedule("noop")
    work(real_spin)

    assert len(traces.job_spans()) == 1
    assert not connected_receivers()  # nothing of the integration is left


def test_a_job_running_when_unregistered_still_finishes_its_span(traces, real_spin):
    started, release = threading.Event(), threading.Event()

    @real_spin.task(name="slow")
    def slow():
        started.set()
        assert release.wait(10)

    register_datadog(namespace=real_spin.namespace)
    real_spin.schedule("slow")
    real_spin.start_workers(number=1, block=False)
    assert started.wait(10)
    unregister_datadog(real_spin.namespace)
    assert connected_receivers() == ["job_failed", "job_finished", "job_schedule_retry"]
    release.set()
    [span] = traces.wait_for_job_spans(1)
    real_spin.stop_workers()

    assert span.get_tag("spinach.outcome") == "succeeded"
    assert not connected_receivers()  # then disconnected


def test_lost_job_gets_an_error_span(traces, register, namespace, engines, let_time_pass):
    store, clock = MemoryStore(), ManualClock()

    def broker():
        return MemoryBroker(store=store, clock=clock, broker_dead_threshold_seconds=10)

    dead = Engine(broker(), namespace=namespace)

    @dead.task(name="fragile", max_retries=0)
    def fragile():
        pass

    job = dead.schedule("fragile")
    dead.broker.start()
    assert dead.broker.get_jobs_from_queue("spinach", 1) == [job]
    register()
    live = Engine(broker(), namespace=namespace)
    engines.append(live)
    live.start_workers(number=1, block=False)
    let_time_pass(clock, 14, step=2)  # the live worker heartbeats, and recovers the job
    [span] = traces.wait_for_job_spans(1)
    live.stop_workers()

    assert span.resource == "fragile"
    assert span.get_tag("job.id") == str(job.id)
    assert span.error == 1
    assert span.get_tag("error.type") == "spinach.exc.JobLostError"
    assert "died" in span.get_tag("error.message")
    assert span.get_tag("spinach.outcome") == "failed"
    assert tracer.current_span() is None


def test_unknown_task_gets_an_error_span(traces, register, namespace, engines, monkeypatch):
    monkeypatch.setattr("spinach.arbiter.UNKNOWN_TASK_GRACE", -1.0)  # no grace: fails at once
    store = MemoryStore()
    client = Engine(MemoryBroker(store=store), namespace=namespace)

    @client.task(name="only_the_client_knows")
    def only_the_client_knows():
        pass

    # Handed back during a deploy; failed once nobody knew it for an hour.
    long_ago = datetime.now(timezone.utc) - timedelta(seconds=UNKNOWN_TASK_GRACE + 60)
    client.schedule_at("only_the_client_knows", long_ago)
    worker = Engine(MemoryBroker(store=store), namespace=namespace)
    engines.append(worker)
    register()
    work(worker)

    [span] = traces.job_spans()
    assert span.error == 1
    assert span.get_tag("error.type") == "spinach.exc.UnknownTaskError"


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="service"):
        register_datadog(service="")
    with pytest.raises(TypeError, match="namespace"):
        register_datadog(namespace=42)  # type: ignore[arg-type]
    assert not connected_receivers()


def test_tests_reach_no_agent():
    # Set by the conftest before ddtrace was imported: a socket that cannot exist.
    assert tracer.agent_trace_url == NO_AGENT


def test_a_span_left_open_is_finished_by_the_next_job_of_the_context(traces, register, namespace):
    # Cannot happen with Spinach's workers (a fresh context per job): the
    # integration still never leaves a span open if job_finished went missing.
    import contextvars

    from spinach import signals
    from spinach.job import Job

    register()
    clock = ManualClock()
    first, second = (Job(name, "q", clock.now(), 0) for name in ("first", "second"))

    def run():
        signals.job_started.send(namespace, job=first)
        signals.job_started.send(namespace, job=second)
        signals.job_finished.send(namespace, job=second)

    contextvars.copy_context().run(run)
    spans = traces.job_spans()
    assert [span.resource for span in spans] == ["first", "second"]
    assert spans[0].get_tag("spinach.outcome") == "failed"
