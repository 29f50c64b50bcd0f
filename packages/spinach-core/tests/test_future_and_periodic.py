"""Future jobs never start early; periodic tasks run once per period."""

from __future__ import annotations

from datetime import timedelta

from spinach import Batch


def test_future_job_never_starts_early(spin, clock, recorder):
    starts = []

    @spin.task(name="later")
    def later():
        starts.append(clock.time())

    job = spin.schedule_at(later, clock.now() + timedelta(hours=2))
    spin.start_workers(block=False)
    assert clock.wait_for_sleepers(1, deadline=job.at_timestamp)
    for _ in range(7):  # heartbeats and wake-ups in between
        clock.advance(1000)
        assert clock.wait_for_sleepers(1)
        assert starts == []
    clock.advance(199.999)
    assert clock.wait_for_sleepers(1)
    assert starts == []
    clock.advance(0.001)
    recorder.wait_count("job_finished", 1)
    assert starts == [job.at_timestamp]


def test_many_future_jobs_due_together(spin, clock, recorder):
    @spin.task(name="due")
    def due(i):
        pass

    at = clock.now() + timedelta(minutes=1)
    batch = Batch()
    for i in range(200):
        batch.schedule_at(due, at, i)
    spin.schedule_batch(batch)
    spin.start_workers(number=4, block=False)
    assert clock.wait_for_sleepers(1, deadline=at.timestamp())
    clock.advance(60)
    recorder.wait_count("job_finished", 200)


def test_future_job_scheduled_while_idle_wakes_the_worker(spin, clock, recorder):
    @spin.task(name="later")
    def later():
        pass

    spin.start_workers(block=False)
    assert clock.wait_for_sleepers(1)
    job = spin.schedule_at(later, clock.now() + timedelta(seconds=2))
    assert clock.wait_for_sleepers(1, deadline=job.at_timestamp)
    clock.advance(2)
    recorder.wait_count("job_finished", 1)


def test_periodic_task_runs_every_period_without_storm(spin, clock, recorder):
    starts = []

    @spin.task(name="tick", periodicity=timedelta(seconds=30))
    def tick():
        starts.append(clock.time())

    origin = clock.time()
    spin.start_workers(block=False)
    recorder.wait_count("job_finished", 1)
    for period in range(1, 4):
        assert clock.wait_for_sleepers(1, deadline=origin + 30 * period)
        clock.advance(29.9)
        assert clock.wait_for_sleepers(1)
        assert len(starts) == period
        clock.advance(0.1)
        recorder.wait_count("job_finished", period + 1)
    # Workers were stuck for ten periods: one run, then back on the grid.
    clock.advance(300)
    recorder.wait_count("job_finished", 5)
    assert clock.wait_for_sleepers(1, deadline=origin + 30 * 14)
    assert len(starts) == 5
    assert [s - origin for s in starts] == [0, 30, 60, 90, 390]
    # Each job is dated by its slot on the grid; the next slot is 420, not 400.
    dates = [job.at_timestamp - origin for job in recorder.jobs("job_started")]
    assert dates == [0, 30, 60, 90, 120]
