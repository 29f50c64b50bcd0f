"""The arbiter under broker errors: real backoff, one log line per episode, a loud death."""

from __future__ import annotations

import logging
import threading

import pytest

from spinach import Engine, MemoryBroker
from spinach.arbiter import ErrorEpisode
from spinach.exc import WorkersError


class FlakyBroker(MemoryBroker):
    """A MemoryBroker whose schedule step fails while ``failing`` is set."""

    def __init__(self, error: BaseException, **kwargs):
        super().__init__(**kwargs)
        self.error = error
        self.failing = threading.Event()
        self.calls = 0
        self.called = threading.Condition()

    def move_future_jobs(self):
        with self.called:
            self.calls += 1
            self.called.notify_all()
        if self.failing.is_set():
            raise self.error
        return super().move_future_jobs()


def test_backoff_is_bounded_and_never_overflows():
    episode = ErrorEpisode("test", cap=2.0)
    delays = [episode.failed(RuntimeError("x")) for _ in range(5000)]
    assert all(0 < d <= 2.0 for d in delays)
    assert delays[0] <= 0.1 and max(delays) > 1.0


def test_broker_errors_back_off_for_real_and_log_once_per_episode(namespace, caplog):
    broker = FlakyBroker(RuntimeError("Redis is down"), broker_dead_threshold_seconds=3)
    spin = Engine(broker, namespace=namespace)
    broker.failing.set()
    with caplog.at_level(logging.DEBUG, logger="spinach.arbiter"):
        spin.start_workers(number=1, block=False)
        try:
            with broker.called:
                assert broker.called.wait_for(lambda: broker.calls >= 3, timeout=10)
            # Notifications (a job enqueued, a slot freed) do not cut the
            # backoff short: a burst of them makes no burst of calls.
            calls = broker.calls
            for _ in range(200):
                broker.notify_future_changed()
                broker.notify()
            with broker.called:
                broker.called.wait_for(lambda: broker.calls > calls + 20, timeout=0.5)
            assert broker.calls <= calls + 20
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert len(errors) == 1  # once per episode, not once per failure
            broker.failing.clear()
            with broker.called:
                done = broker.calls + 2
                assert broker.called.wait_for(lambda: broker.calls >= done, timeout=10)
        finally:
            spin.stop_workers()
    assert "works again after" in caplog.text


class Fatal(BaseException):
    """Stands for a bug that escapes every handler."""


def test_a_dying_arbiter_stops_the_worker_loudly(namespace, caplog):
    broker = FlakyBroker(Fatal("bug"))
    spin = Engine(broker, namespace=namespace)
    broker.failing.set()
    caplog.set_level(logging.CRITICAL, logger="spinach.arbiter")
    with pytest.raises(WorkersError, match="machinery failed"):
        spin.start_workers(number=1, block=True)
    assert "arbiter thread of namespace" in caplog.text
    assert not any(t.name == f"{namespace}-worker-1" for t in threading.enumerate())


def test_a_failing_schedule_step_does_not_stop_fetching_and_acknowledging(
    namespace, caplog, wait_until
):
    # One step failing for good (future jobs that cannot be moved, say) must
    # not also freeze the jobs already queued and the acknowledgements.
    broker = FlakyBroker(RuntimeError("cannot move future jobs"))
    spin = Engine(broker, namespace=namespace)
    ran = threading.Event()
    spin.task(ran.set, name="queued_work")
    broker.failing.set()
    caplog.set_level(logging.ERROR, logger="spinach.arbiter")
    spin.start_workers(number=1, block=False)
    try:
        with broker.called:
            assert broker.called.wait_for(lambda: broker.calls >= 1, timeout=10)
        spin.schedule("queued_work")
        assert ran.wait(10), "a queued job waited for the failing step"
        wait_until(
            lambda: [w.running for w in spin.inspect.workers()] == [0],
            timeout=10,
            what="the finished job acknowledged",
        )
        assert broker.failing.is_set() and spin.inspect.queue("spinach").length == 0
    finally:
        spin.stop_workers()
    assert "cannot move future jobs" in caplog.text
