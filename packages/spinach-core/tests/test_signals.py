"""Signals: namespaces, ordering, and receivers that cannot break a job."""

from __future__ import annotations

import logging

from spinach import Engine, MemoryBroker, signals
from spinach.signals import SafeNamedSignal


def test_the_six_signals_exist():
    for name in (
        "job_started",
        "job_finished",
        "job_schedule_retry",
        "job_failed",
        "worker_started",
        "worker_terminated",
    ):
        signal = getattr(signals, name)
        assert isinstance(signal, SafeNamedSignal)
        assert signal.name == name
        assert repr(signal) == f'SafeNamedSignal "{name}"'


def test_failing_receiver_is_logged_and_never_breaks_the_job(real_spin, recorder, caplog):
    def broken(namespace, job, **kwargs):
        raise RuntimeError("receiver bug")

    signals.job_started.connect(broken)
    try:
        ran = []

        @real_spin.task(name="work")
        def work():
            ran.append(1)

        real_spin.schedule(work)
        with caplog.at_level(logging.ERROR, logger="spinach.signals"):
            real_spin.start_workers(number=1, stop_when_queue_empty=True)
        assert ran == [1]
        assert recorder.count("job_failed") == 0
        records = [r for r in caplog.records if r.name == "spinach.signals"]
        assert records and "receiver bug" in records[0].exc_text
        assert "job_started" in records[0].getMessage()
    finally:
        signals.job_started.disconnect(broken)


def test_job_signals_in_order_with_namespace_first(real_spin, recorder):
    @real_spin.task(name="fails", max_retries=1)
    def fails():
        raise KeyError("k")

    real_spin.schedule(fails)
    real_spin.start_workers(number=1, block=False)
    recorder.wait_count("job_finished", 1)
    names = [name for name, _ in recorder.events if name.startswith("job_")]
    assert names[:3] == ["job_started", "job_schedule_retry", "job_finished"]
    [err] = recorder.errors("job_schedule_retry")
    assert isinstance(err, KeyError) and err.__traceback__ is not None


def test_connect_via_hears_only_its_engine(engines):
    foo = Engine(MemoryBroker(), namespace="foo")
    bar = Engine(MemoryBroker(), namespace="bar")
    engines.extend([foo, bar])
    heard = []

    @signals.job_started.connect_via(foo.namespace)
    def on_foo(namespace, job, **kwargs):
        heard.append((namespace, job.task_name))

    try:
        for engine in (foo, bar):
            engine.task(lambda: None, name=f"{engine.namespace}_task")
            engine.schedule(f"{engine.namespace}_task")
            engine.start_workers(number=1, stop_when_queue_empty=True)
        assert heard == [("foo", "foo_task")]
    finally:
        signals.job_started.disconnect(on_foo)
