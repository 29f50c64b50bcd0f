"""Workers: survival, concurrency limits, queues, context, asyncio."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading

import pytest

from spinach import AsyncioWorkers, Batch, Engine, JobStatus, MemoryBroker, signals
from spinach.clock import SystemClock
from spinach.exc import WorkersError
from spinach.job import Job
from spinach.runner import JobRunner
from spinach.task import Task
from spinach.worker import ThreadWorkers


class Gauge:
    """Counts concurrent executions and remembers the highest count."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


@pytest.mark.parametrize("error", [RuntimeError("x"), SystemExit(3), KeyboardInterrupt()])
def test_raising_task_never_kills_a_worker_thread(real_spin, recorder, error):
    @real_spin.task(name="bad")
    def bad():
        raise error

    @real_spin.task(name="good")
    def good():
        pass

    batch = Batch()
    for _ in range(20):
        batch.schedule(bad)
        batch.schedule(good)
    real_spin.schedule_batch(batch)
    real_spin.start_workers(number=3, block=False)
    recorder.wait_count("job_finished", 40)
    assert recorder.count("job_failed") == 20
    prefix = f"{real_spin.namespace}-worker-"
    workers = [t for t in threading.enumerate() if t.name.startswith(prefix)]
    assert len(workers) == 3 and all(t.is_alive() for t in workers)


def test_max_concurrency_is_never_exceeded(real_spin, recorder):
    gauge = Gauge()
    release = threading.Event()

    @real_spin.task(name="limited", max_retries=1, max_concurrency=2)
    def limited():
        with gauge:
            release.wait(10)

    @real_spin.task(name="free")
    def free():
        pass

    batch = Batch()
    for _ in range(30):
        batch.schedule(limited)
        batch.schedule(free)
    real_spin.schedule_batch(batch)
    real_spin.start_workers(number=8, block=False)
    # Every free job gets through although limited jobs wait in the same queue.
    recorder.wait_count("job_finished", 30, task_name="free")
    assert gauge.peak == 2
    release.set()
    recorder.wait_count("job_finished", 60)
    assert gauge.peak == 2


def test_queues_route_tasks_to_their_workers(clock, namespace, recorder, engines):
    spin = Engine(MemoryBroker(clock=clock), namespace=namespace)
    engines.append(spin)

    @spin.task(name="fast", queue="high-priority")
    def fast():
        pass

    @spin.task(name="slow", queue="low-priority")
    def slow():
        pass

    spin.schedule(slow)
    spin.schedule(fast)
    spin.start_workers(number=1, queue="high-priority", stop_when_queue_empty=True)
    assert [j.task_name for j in recorder.jobs("job_finished")] == ["fast"]
    assert spin.broker.queue_length("low-priority") == 1


def test_each_job_runs_in_its_own_context(real_spin, recorder):
    current = contextvars.ContextVar("current", default=None)
    seen = []

    def on_started(namespace, job, **kwargs):
        assert current.get() is None  # nothing leaked from a previous job
        current.set(job.id)

    def on_finished(namespace, job, **kwargs):
        seen.append((job.id, current.get()))

    signals.job_started.connect_via(real_spin.namespace)(on_started)
    signals.job_finished.connect_via(real_spin.namespace)(on_finished)
    try:
        inside = []

        @real_spin.task(name="look")
        def look():
            inside.append(current.get())

        for _ in range(10):
            real_spin.schedule(look)
        real_spin.start_workers(number=2, block=False)
        recorder.wait_count("job_finished", 10)
        assert all(job_id == value for job_id, value in seen)
        assert len(set(inside)) == 10 and None not in inside
    finally:
        signals.job_started.disconnect(on_started)
        signals.job_finished.disconnect(on_finished)


def test_stopping_pool_gives_back_jobs_it_did_not_start_at_once(namespace, recorder):
    release = threading.Event()
    entered = threading.Event()

    def hold():
        entered.set()
        release.wait(10)

    tasks = {"hold": Task(hold, "hold", "spinach", 0, None, None)}
    runner = JobRunner(namespace, tasks.get, SystemClock())
    done = []
    handed_back = threading.Event()

    def on_done(job):
        done.append(job)
        if job.status is JobStatus.QUEUED:
            handed_back.set()

    workers = ThreadWorkers(1, namespace, runner, on_done)
    running = Job("hold", "spinach", SystemClock().now(), 0)
    workers.submit_job(running)
    assert entered.wait(10)
    # A job waits in the pool, not started (forced past the pool's size).
    pending = Job("hold", "spinach", SystemClock().now(), 0)
    workers.number = 2
    workers.submit_job(pending)
    workers.begin_stop()
    # Handed back while the running job still runs, not once it is over.
    assert handed_back.wait(10)
    assert done == [pending]
    assert pending.status is JobStatus.QUEUED
    # A job the arbiter hands over as the stop begins goes back at once too.
    late = Job("hold", "spinach", SystemClock().now(), 0)
    workers.submit_job(late)
    assert done == [pending, late]
    assert late.status is JobStatus.QUEUED
    release.set()
    assert workers.stop() == []
    assert done == [pending, late, running]
    assert recorder.count("job_started") == 1
    assert workers.in_flight == 0


class HoardingWorkers(ThreadWorkers):
    """A pool that keeps what it is given and never starts it."""

    received = threading.Event()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._hoard = []

    def _submit(self, job):
        with self._lock:
            self._hoard.append(job)
        HoardingWorkers.received.set()

    def _release_pending(self):
        with self._lock:
            hoard, self._hoard = self._hoard, []
        for job in hoard:
            self._take_back(job)
        super()._release_pending()


def test_engine_returns_unstarted_jobs_to_the_broker(real_spin, recorder):
    @real_spin.task(name="noop", max_retries=0)
    def noop():
        pass

    HoardingWorkers.received.clear()
    job = real_spin.schedule(noop)
    real_spin.start_workers(number=1, block=False, workers_class=HoardingWorkers)
    assert HoardingWorkers.received.wait(10)
    assert real_spin.broker.running_jobs() == [job]
    real_spin.stop_workers()
    assert real_spin.broker.running_jobs() == []
    [again] = real_spin.broker.get_jobs_from_queue("spinach", 1)
    assert again == job and again.retries == 0
    assert recorder.count("job_started") == 0


def test_start_twice_is_an_error_and_restart_works(real_spin, recorder):
    @real_spin.task(name="noop")
    def noop():
        pass

    real_spin.start_workers(number=1, block=False)
    with pytest.raises(WorkersError, match="already running"):
        real_spin.start_workers(number=1, block=False)
    real_spin.stop_workers()
    real_spin.stop_workers()  # harmless
    real_spin.schedule(noop)
    real_spin.start_workers(number=1, stop_when_queue_empty=True)
    assert recorder.count("job_finished") == 1


@pytest.mark.parametrize("number", [0, -1, 1.5, True])
def test_invalid_number_of_workers(real_spin, number):
    with pytest.raises(WorkersError):
        real_spin.start_workers(number=number, block=False)


def test_invalid_queue_or_workers_class(real_spin):
    with pytest.raises(WorkersError, match="reserved"):
        real_spin.start_workers(queue="_x", block=False)
    with pytest.raises(WorkersError, match="BaseWorkers"):
        real_spin.start_workers(workers_class=dict, block=False)


def test_worker_signals_carry_worker_names(real_spin, recorder):
    real_spin.start_workers(number=3, block=False)
    real_spin.stop_workers()  # joins the workers: each has sent both signals
    started = sorted(recorder.worker_names("worker_started"))
    ended = sorted(recorder.worker_names("worker_terminated"))
    ns = real_spin.namespace
    assert started == ended == [f"{ns}-worker-1", f"{ns}-worker-2", f"{ns}-worker-3"]


def test_stop_workers_from_a_task(real_spin, recorder, engines):
    @real_spin.task(name="stopper")
    def stopper():
        real_spin.stop_workers()

    real_spin.schedule(stopper)
    real_spin.start_workers(number=2, block=True)  # returns because the task stopped it
    assert recorder.count("job_finished") == 1
    assert real_spin.broker.running_jobs() == []


def test_async_tasks_run_concurrently(real_spin, recorder):
    gauge = Gauge()
    gate = {"event": None}
    ready = threading.Event()

    @real_spin.task(name="io")
    async def io(i):
        if gate["event"] is None:
            gate["event"] = asyncio.Event()
        with gauge:
            if gauge.now == 200:
                ready.set()
                gate["event"].set()
            await asyncio.wait_for(gate["event"].wait(), 10)

    batch = Batch()
    for i in range(200):
        batch.schedule(io, i)
    real_spin.schedule_batch(batch)
    real_spin.start_workers(number=256, workers_class=AsyncioWorkers, block=False)
    assert ready.wait(20)
    recorder.wait_count("job_finished", 200)
    assert gauge.peak == 200
    assert recorder.count("job_failed") == 0


def test_asyncio_workers_retry_and_isolate_context(real_spin, recorder):
    current = contextvars.ContextVar("current", default=None)
    values = []

    def on_started(namespace, job, **kwargs):
        current.set(job.id)

    signals.job_started.connect_via(real_spin.namespace)(on_started)
    try:

        @real_spin.task(name="async_flaky", max_retries=1)
        async def async_flaky():
            values.append(current.get())
            await asyncio.sleep(0)
            raise ValueError("async failure")

        @real_spin.task(name="sync_in_async")
        def sync_in_async():
            values.append(current.get())

        real_spin.schedule(async_flaky)
        real_spin.schedule(sync_in_async)
        real_spin.start_workers(number=10, workers_class=AsyncioWorkers, block=False)
        recorder.wait_count("job_schedule_retry", 1)
        assert recorder.count("job_failed") == 0
        recorder.wait_count("job_finished", 2)
        assert None not in values
    finally:
        signals.job_started.disconnect(on_started)


def test_async_task_on_thread_workers(real_spin, recorder):
    @real_spin.task(name="coro")
    async def coro():
        await asyncio.sleep(0)

    real_spin.schedule(coro)
    real_spin.start_workers(number=1, stop_when_queue_empty=True)
    assert recorder.count("job_failed") == 0 and recorder.count("job_finished") == 1


@pytest.mark.skipif(sys.platform == "win32", reason="thread names")
def test_threads_have_names(real_spin):
    before = {t.name for t in threading.enumerate()}
    real_spin.start_workers(number=2, block=False)
    names = {t.name for t in threading.enumerate()} - before
    ns = real_spin.namespace
    assert {f"{ns}-worker-1", f"{ns}-worker-2", f"{ns}-arbiter"} <= names
    real_spin.stop_workers()
    assert not ({t.name for t in threading.enumerate()} & names)


def test_starting_again_waits_for_a_run_still_draining(real_spin, recorder, engines):
    release = threading.Event()
    stopping = threading.Event()

    @real_spin.task(name="last")
    def last():
        real_spin.stop_workers()  # returns at once: the run drains in another thread
        stopping.set()
        release.wait(10)

    @real_spin.task(name="next")
    def next_job():
        pass

    real_spin.schedule(last)
    real_spin.start_workers(number=1, block=False)
    assert stopping.wait(10)
    restarted = threading.Event()

    def start_again():
        real_spin.start_workers(number=1, block=False)
        restarted.set()

    starter = threading.Thread(target=start_again, name="test-starter")
    starter.start()
    assert not restarted.wait(0.2)  # the old run still drains: nothing starts meanwhile
    release.set()
    assert restarted.wait(10)
    starter.join(10)
    # The old run's end stopped nothing of the new one: a job runs at once.
    real_spin.schedule(next_job)
    recorder.wait_count("job_finished", 1, task_name="next", timeout=3)


def test_starting_from_a_job_of_a_draining_run_is_refused(real_spin, recorder, engines):
    outcome = {}

    @real_spin.task(name="restart")
    def restart():
        real_spin.stop_workers()
        try:
            real_spin.start_workers(number=1, block=False)
        except WorkersError as exc:
            outcome["error"] = exc

    real_spin.schedule(restart)
    real_spin.start_workers(number=1, block=False)
    recorder.wait_count("job_finished", 1, task_name="restart")
    assert "start new ones from outside a job" in str(outcome["error"])
    # The refused start left the draining run alone: it stops, and a new start works.
    real_spin.start_workers(number=1, block=False)
    real_spin.stop_workers()
