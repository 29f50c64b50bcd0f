"""Contract: periodic tasks, once per period, on a grid, across workers."""

from __future__ import annotations

from .helpers import make_task


def _names(jobs):
    return [job.task_name for job in jobs]


def test_new_periodic_task_is_due_now_then_every_period(broker, clock):
    start = clock.time()
    broker.register_periodic_tasks([make_task("tick", periodicity=10), make_task("plain")])
    assert broker.periodic_tasks() == [("tick", start)]
    assert broker.move_future_jobs() == start + 10
    [job] = broker.get_jobs_from_queue("q", 10)
    assert job.task_name == "tick"
    assert job.at_timestamp == start

    clock.advance(9.9)
    assert broker.move_future_jobs() == start + 10
    assert broker.get_jobs_from_queue("q", 10) == []
    clock.advance(0.1)
    broker.move_future_jobs()
    assert _names(broker.get_jobs_from_queue("q", 10)) == ["tick"]


def test_no_catch_up_storm_and_no_drift(broker, clock):
    start = clock.time()
    broker.register_periodic_tasks([make_task("tick", periodicity=10)])
    broker.move_future_jobs()
    broker.get_jobs_from_queue("q", 10)

    clock.advance(95)  # nine periods missed while no worker ran
    assert broker.move_future_jobs() == start + 100  # still on the grid
    assert len(broker.get_jobs_from_queue("q", 100)) == 1


def test_several_workers_enqueue_once_per_period(backend, clock):
    workers = [backend.broker() for _ in range(3)]
    for worker in workers:
        worker.start()
        worker.register_periodic_tasks([make_task("tick", periodicity=10)])
    for _ in range(5):
        for worker in workers:
            worker.move_future_jobs()
        clock.advance(10)
    assert workers[0].queue_length("q") == 5


def test_restart_keeps_schedule_when_unchanged(backend, clock):
    first = backend.broker()
    first.register_periodic_tasks([make_task("tick", periodicity=60)])
    first.move_future_jobs()
    clock.advance(20)
    second = backend.broker()
    second.register_periodic_tasks([make_task("tick", periodicity=60)])
    assert second.move_future_jobs() == clock.time() + 40
    assert second.queue_length("q") == 1


def test_changed_periodicity_takes_effect(broker, clock):
    broker.register_periodic_tasks([make_task("tick", periodicity=3600)])
    broker.move_future_jobs()
    broker.get_jobs_from_queue("q", 10)
    clock.advance(10)
    broker.register_periodic_tasks([make_task("tick", periodicity=60)])
    assert broker.periodic_tasks() == [("tick", clock.time() + 60)]
    clock.advance(60)
    broker.move_future_jobs()
    assert _names(broker.get_jobs_from_queue("q", 10)) == ["tick"]


def _heartbeat_for(seconds, clock, *brokers):
    """Let ``brokers`` heartbeat every interval for ``seconds``, as running workers do."""
    step = brokers[0].heartbeat_interval
    for _ in range(round(seconds / step)):
        clock.advance(step)
        for b in brokers:
            b.check_dead_workers()


def _periodic_names(broker):
    return sorted(name for name, _ in broker.periodic_tasks())


def test_removed_task_is_retired_once_no_live_worker_declares_it(broker, clock):
    old, new = make_task("old", periodicity=10), make_task("new", periodicity=10)
    broker.register_periodic_tasks([old, new])
    broker.move_future_jobs()
    assert sorted(_names(broker.get_jobs_from_queue("q", 10))) == ["new", "old"]
    # A deploy: the worker now knows only "new"; "old" is not dropped at once
    # (another worker of the old version may still run it)...
    broker.register_periodic_tasks([make_task("new", periodicity=10)])
    _heartbeat_for(broker.broker_dead_threshold_seconds - 10, clock, broker)
    assert _periodic_names(broker) == ["new", "old"]
    # ...but once no live worker has declared it for the dead threshold.
    _heartbeat_for(15, clock, broker)
    assert _periodic_names(broker) == ["new"]
    broker.get_jobs_from_queue("q", 100)
    clock.advance(10)
    broker.move_future_jobs()
    assert _names(broker.get_jobs_from_queue("q", 10)) == ["new"]


def test_workers_of_two_versions_keep_each_others_periodic_tasks(backend, clock):
    v1, v2 = backend.broker(), backend.broker()
    for b in (v1, v2):
        b.start()
    v1.register_periodic_tasks([make_task("a", periodicity=10), make_task("b", periodicity=10)])
    v2.register_periodic_tasks([make_task("a", periodicity=10), make_task("c", periodicity=10)])
    before = v1.periodic_tasks()
    _heartbeat_for(3 * v1.broker_dead_threshold_seconds, clock, v1, v2)
    assert _periodic_names(v1) == ["a", "b", "c"]
    # No flip-flop: the schedule of each task followed its grid all along.
    after = dict(v2.periodic_tasks())
    for name, first_due in before:
        assert (after[name] - first_due) % 10 == 0
    # The old version leaves: its own task retires after the threshold.
    v1.stop()
    _heartbeat_for(v2.broker_dead_threshold_seconds + 10, clock, v2)
    assert _periodic_names(v2) == ["a", "c"]


def test_an_outage_of_every_worker_retires_nothing(backend, clock):
    worker = backend.broker()
    worker.start()
    worker.register_periodic_tasks([make_task("tick", periodicity=10)])
    clock.advance(5 * worker.broker_dead_threshold_seconds)  # nobody heartbeats
    worker.check_dead_workers()
    assert _periodic_names(worker) == ["tick"]
    _heartbeat_for(2 * worker.broker_dead_threshold_seconds, clock, worker)
    assert _periodic_names(worker) == ["tick"]


def test_periodic_job_goes_to_its_task_queue_with_its_retries(broker, clock):
    broker.register_periodic_tasks([make_task("tick", queue="slow", max_retries=2, periodicity=5)])
    broker.move_future_jobs()
    assert broker.get_jobs_from_queue("q", 10) == []
    [job] = broker.get_jobs_from_queue("slow", 10)
    assert (job.queue, job.max_retries) == ("slow", 2)
