"""Contract: idle workers are woken by notifications, not by polling."""

from __future__ import annotations

import threading

from .helpers import make_job, make_task


def _waiter(broker):
    done = threading.Event()

    def wait():
        broker.wait_for_event(None)
        done.set()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return done


def test_enqueue_wakes_an_idle_worker(backend, clock):
    worker, client = backend.broker(), backend.broker()
    worker.start()
    worker.wait_for_event(0)  # forget the wake-up of start()
    done = _waiter(worker)
    assert clock.wait_for_sleepers(1)
    client.enqueue_jobs([make_job(clock)])
    assert done.wait(10)


def test_future_job_marks_schedule_changed(backend, clock):
    worker, client = backend.broker(), backend.broker()
    worker.start()
    worker.wait_for_event(0)
    worker.consume_future_changed()
    done = _waiter(worker)
    assert clock.wait_for_sleepers(1)
    client.enqueue_jobs([make_job(clock, delay=30)])
    assert done.wait(10)
    assert worker.consume_future_changed()
    assert not worker.consume_future_changed()


def test_freed_concurrency_slot_wakes_workers(backend, clock):
    idle, busy = backend.broker(), backend.broker()
    idle.start()
    busy.start()
    busy.set_concurrency_keys([make_task("limited", max_retries=1, max_concurrency=1)])
    idle.wait_for_event(0)  # forget the wake-up of start()
    busy.enqueue_jobs([make_job(clock, "limited", max_retries=1) for _ in range(2)])
    idle.wait_for_event(None)  # the enqueue's notification (it may come late on Redis)
    [job] = busy.get_jobs_from_queue("q", 5)
    done = _waiter(idle)
    assert clock.wait_for_sleepers(1)
    job.status = job.status.SUCCEEDED
    busy.acknowledge([job])
    assert done.wait(10)
    assert len(idle.get_jobs_from_queue("q", 5)) == 1


def test_wait_ends_at_its_timeout(broker, clock):
    broker.wait_for_event(0)
    done = threading.Event()

    def wait():
        broker.wait_for_event(5)
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    assert clock.wait_for_sleepers(1)
    assert not done.is_set()
    clock.advance(5)
    assert done.wait(10)


def test_namespaces_never_hear_each_other(backend, clock):
    stg = backend.broker("stg")
    prod = backend.broker("prod")
    wakes = []
    original = stg.notify
    stg.notify = lambda: (wakes.append("notify"), original())[1]
    original_future = stg.notify_future_changed
    stg.notify_future_changed = lambda: (wakes.append("future"), original_future())[1]
    stg.start()
    wakes.clear()
    prod.start()
    prod.enqueue_jobs([make_job(clock), make_job(clock, delay=60)])
    prod.set_concurrency_keys([make_task("t", max_retries=1, max_concurrency=1)])
    prod.register_periodic_tasks([make_task("p", periodicity=5)])
    # A notification of stg's own comes after prod's in the stream: once it is
    # heard, anything prod's calls had leaked would have been heard before it.
    stg.wait_for_event(0)
    done = _waiter(stg)
    backend.broker("stg").enqueue_jobs([make_job(clock, queue="mark")])
    assert done.wait(10)
    assert wakes == ["notify"]
