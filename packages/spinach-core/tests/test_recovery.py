"""Jobs of a dead worker, recovered by a live engine."""

from __future__ import annotations

import logging

from spinach import Engine, MemoryBroker
from spinach.brokers.memory import MemoryStore
from spinach.exc import JobLostError


def test_live_engine_recovers_the_jobs_of_a_dead_worker(
    clock, namespace, recorder, engines, caplog
):
    store = MemoryStore()
    spin = Engine(
        MemoryBroker(store=store, clock=clock, broker_dead_threshold_seconds=30),
        namespace=namespace,
    )
    engines.append(spin)
    spin.task(lambda: None, name="once")
    spin.task(lambda: None, name="retryable", max_retries=2)
    lost = spin.schedule("once")
    again = spin.schedule("retryable")

    # Another worker takes both jobs, then dies without a word.
    dead = MemoryBroker(store=store, clock=clock, broker_dead_threshold_seconds=30)
    dead.namespace = namespace
    dead.start()
    assert len(dead.get_jobs_from_queue("spinach", 10)) == 2

    with caplog.at_level(logging.ERROR, logger="spinach.job"):
        spin.start_workers(number=1, block=False)
        assert clock.wait_for_sleepers(1)
        # The live engine heartbeats every 5 s all along: only a connected
        # observer may declare another worker dead.
        for _ in range(7):
            clock.advance(5)
            assert clock.wait_for_sleepers(1)
        recorder.wait_count("job_finished", 1, task_name="retryable")
        recorder.wait_for(lambda: recorder.count("job_failed") == 1)
    [failed] = recorder.jobs("job_failed")
    assert failed == lost
    assert isinstance(recorder.errors("job_failed")[0], JobLostError)
    assert recorder.count("job_started", "once") == 0  # never run again
    assert recorder.jobs("job_started")[0] == again
    assert recorder.jobs("job_started")[0].retries == 1
    [record] = [r for r in caplog.records if r.name == "spinach.job"]
    assert record.spinach_job_id == str(lost.id)
    assert record.spinach_task_name == "once"
