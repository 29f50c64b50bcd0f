"""Concurrency limits and periodic tasks shared by several worker processes."""

from __future__ import annotations

import time

import pytest

from spinach import Batch

pytestmark = pytest.mark.redis


def _peak(records, task="limited"):
    current = peak = 0
    for record in records:
        if record.startswith(f"enter {task} "):
            current += 1
            peak = max(peak, current)
        elif record.startswith(f"exit {task} "):
            current -= 1
    return peak


def test_max_concurrency_is_global_and_survives_new_workers(workers):
    spin = workers.engine()
    batch = Batch()
    for n in range(40):
        batch.schedule("limited", n)
    spin.schedule_batch(batch)
    # One thread per process: reaching the limit of 2 takes two processes at
    # once, and with every process able to run one more, the limit holds
    # only if it is counted across processes.
    for _ in range(3):
        workers.start_worker(threads=1)
    for _ in range(10):
        workers.wait_event(lambda e: e.startswith("exit limited "))
    # A worker starting while the others run must not reset the counters.
    workers.start_worker(threads=1)
    for _ in range(30):
        workers.wait_event(lambda e: e.startswith("exit limited "))
    records = workers.records()
    assert len({r.split()[2] for r in records if r.startswith("exit limited ")}) == 40
    assert _peak(records) == 2  # the limit was reached, and never exceeded
    assert len({r.split()[3] for r in records if r.startswith("enter limited ")}) > 1


def test_periodic_task_runs_once_per_period_with_three_workers(workers):
    for _ in range(3):
        workers.start_worker(threads=2, periodic=(0.5,))
    slots = [
        float(workers.wait_event(lambda e: e.startswith("slot tick_0.5 ")).split()[2])
        for _ in range(6)
    ]
    # Three workers schedule periodic tasks, yet each slot of the grid ran once.
    assert len(set(slots)) == len(slots), slots
    ordered = sorted(slots)
    steps = [round((b - a) / 0.5, 6) for a, b in zip(ordered, ordered[1:])]
    assert all(step >= 1 and step == int(step) for step in steps), steps
    spin = workers.engine()
    [(name, next_due)] = spin.broker.periodic_tasks()
    assert name == "tick_0.5"
    periods = (next_due - ordered[0]) / 0.5
    assert abs(periods - round(periods)) < 1e-6  # the schedule stays on the grid


def test_cron_task_runs_once_per_tick_with_three_workers(workers):
    for _ in range(3):
        workers.start_worker(threads=2, cron_every=(0.5,))
    ticks = [
        float(workers.wait_event(lambda e: e.startswith("slot cron_0.5 ")).split()[2])
        for _ in range(8)
    ]
    # Three workers plan every tick, yet each tick ran once, on its date.
    assert len(set(ticks)) == len(ticks), ticks
    assert all(abs(t / 0.5 - round(t / 0.5)) < 1e-6 for t in ticks), ticks
    assert workers.watch(0, lambda e: e.startswith("early ")) is None
    # "slot" is written when a job starts, "tick" by its body: the workers are
    # stopped first (SIGTERM lets running jobs end), so that a tick started but
    # not run yet is not taken for one that never ran.
    for proc in workers.processes:
        proc.terminate()
    for proc in workers.processes:
        assert proc.wait(30) == 0
    records = workers.records()
    assert len([r for r in records if r.startswith("tick cron_0.5 ")]) == len(
        {r.split()[2] for r in records if r.startswith("slot cron_0.5 ")}
    )


def test_rate_limit_holds_across_three_worker_processes(workers, wait_until):
    for _ in range(3):
        workers.start_worker(threads=4)
    spin = workers.engine()
    began = time.time()
    for n in range(15):
        spin.schedule("rated", n)
    wait_until(
        lambda: sum(r.startswith("run rated ") for r in workers.records()) >= 15,
        timeout=30,
        what="every rated job ran",
    )
    runs = [r.split() for r in workers.records() if r.startswith("rated_at ")]
    assert sorted(int(r[2]) for r in runs) == list(range(15))  # each once
    assert len({r[3] for r in runs}) >= 2  # several processes took part
    starts = sorted(float(r[1]) for r in runs)
    # 5 per second across the three: any 6 starts span a second (less the
    # time between a fetch and the task's first line), and 15 take 2 s at least.
    assert all(starts[i + 5] - starts[i] > 0.9 for i in range(len(starts) - 5)), starts
    assert starts[-1] - began >= 1.9


def test_new_deploy_changes_periodicity_and_retires_removed_tasks(workers, wait_until):
    old = workers.start_worker(threads=2, periodic=(3600, 0.2))
    workers.wait_event(lambda e: e.startswith("tick tick_3600 "))
    workers.wait_event(lambda e: e.startswith("tick tick_0.2 "))
    old.terminate()
    assert old.wait(30) == 0
    before = len(workers.records())
    # The new code has tick_0.3 instead of tick_3600 and tick_0.2.
    workers.start_worker(threads=2, periodic=(0.3,))
    spin = workers.engine()
    for _ in range(3):
        workers.wait_event(lambda e: e.startswith("tick tick_0.3 "))
    # The old tasks are retired once no live worker has declared them for the
    # dead threshold (3 s), counted by a worker connected all along.
    wait_until(
        lambda: [name for name, _ in spin.broker.periodic_tasks()] == ["tick_0.3"], timeout=20
    )
    later = workers.records()[before:]
    assert not [r for r in later if r.startswith("tick tick_0.2 ")]  # never run by new code
    assert not [r for r in later if r.startswith("failed:")]
