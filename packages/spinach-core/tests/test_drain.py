"""A stopping worker drains: it heartbeats and acknowledges until its last job ends."""

from __future__ import annotations

import threading

from spinach import Engine, MemoryBroker
from spinach.brokers.memory import MemoryStore


def test_a_job_longer_than_the_threshold_is_never_taken_from_a_draining_worker(
    clock, namespace, recorder, engines
):
    store = MemoryStore()
    release = threading.Event()
    started = threading.Event()

    def make_engine() -> Engine:
        spin = Engine(
            MemoryBroker(store=store, clock=clock, broker_dead_threshold_seconds=10),
            namespace=namespace,
        )
        engines.append(spin)

        @spin.task(name="long", max_retries=3)
        def long():
            started.set()
            release.wait(30)

        @spin.task(name="once", max_retries=0)
        def once():
            started.set()
            release.wait(30)

        return spin

    draining, other = make_engine(), make_engine()
    draining.start_workers(number=2, block=False)
    draining.schedule("long")
    draining.schedule("once")
    recorder.wait_count("job_started", 2)
    other.start_workers(number=2, block=False)
    assert clock.wait_for_sleepers(2)

    stopper = threading.Thread(target=draining.stop_workers, name="test-stopper")
    stopper.start()
    # Three thresholds go by while the jobs finish: both workers heartbeat.
    for _ in range(15):
        clock.advance(2)
        assert clock.wait_for_sleepers(2)
    assert recorder.count("job_started") == 2
    assert recorder.count("job_failed") == 0
    assert stopper.is_alive()  # still waiting for its jobs

    release.set()
    stopper.join(10)
    assert not stopper.is_alive()
    recorder.wait_count("job_finished", 2)
    assert recorder.count("job_started") == 2  # never started again elsewhere
    assert recorder.count("job_failed") == 0
    assert other.broker.running_jobs() == []
    assert other.broker.is_queue_empty("spinach")
    assert other.broker.future_jobs_count() == 0


def test_each_job_is_acknowledged_as_it_finishes_during_a_drain(
    clock, namespace, recorder, engines, wait_until
):
    store = MemoryStore()
    gates = {"a": threading.Event(), "b": threading.Event()}
    spin = Engine(MemoryBroker(store=store, clock=clock), namespace=namespace)
    engines.append(spin)

    @spin.task(name="gated")
    def gated(name):
        gates[name].wait(30)

    spin.schedule("gated", "a")
    spin.schedule("gated", "b")
    spin.start_workers(number=2, block=False)
    recorder.wait_count("job_started", 2)
    stopper = threading.Thread(target=spin.stop_workers, name="test-stopper")
    stopper.start()
    gates["a"].set()
    recorder.wait_count("job_finished", 1)
    watcher = MemoryBroker(store=store, clock=clock)
    watcher.namespace = namespace
    # "a" is acknowledged while "b" still runs, not at the very end.
    wait_until(lambda: len(watcher.running_jobs()) == 1)
    assert [j.task_args for j in watcher.running_jobs()] == [("b",)]
    gates["b"].set()
    stopper.join(10)
    assert watcher.running_jobs() == []
