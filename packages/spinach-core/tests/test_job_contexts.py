"""Job contexts: entered exactly where a job's code runs, on every kind of worker."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from datetime import timedelta

import pytest

from spinach import AsyncioWorkers, ThreadWorkers
from spinach.job import JobStatus

WORKERS = {"threads": ThreadWorkers, "asyncio": AsyncioWorkers}

#: Set by a context, read by the task: proves they share one context.
entered_by: contextvars.ContextVar[str] = contextvars.ContextVar("entered_by", default="")


def recording_context(log: list, name: str):
    @contextlib.contextmanager
    def context(job):
        log.append((name, "enter", job.task_name, threading.get_ident()))
        token = entered_by.set(name)
        try:
            yield
        finally:
            entered_by.reset(token)
            log.append((name, "exit", job.task_name, threading.get_ident()))

    return context


def recording_async_context(log: list, name: str):
    @contextlib.asynccontextmanager
    async def context(job):
        log.append((name, "enter", job.task_name, id(asyncio.current_task())))
        token = entered_by.set(name)
        try:
            yield
        finally:
            entered_by.reset(token)
            log.append((name, "exit", job.task_name, id(asyncio.current_task())))

    return context


@pytest.mark.parametrize("kind", WORKERS)
def test_sync_contexts_surround_a_sync_task_in_the_thread_that_runs_it(real_spin, recorder, kind):
    log: list = []
    real_spin.add_job_context(recording_context(log, "outer"))
    real_spin.add_job_context(recording_context(log, "inner"))

    @real_spin.task(name="work")
    def work():
        log.append(("task", entered_by.get(), "work", threading.get_ident()))

    real_spin.schedule(work)
    real_spin.start_workers(number=2, stop_when_queue_empty=True, workers_class=WORKERS[kind])

    assert recorder.count("job_failed") == 0, recorder.errors("job_failed")
    assert [entry[:3] for entry in log] == [
        ("outer", "enter", "work"),
        ("inner", "enter", "work"),
        ("task", "inner", "work"),
        ("inner", "exit", "work"),
        ("outer", "exit", "work"),
    ]
    # All in one thread: on AsyncioWorkers, the executor thread of the task,
    # not the loop's thread that sends the signals.
    assert len({entry[3] for entry in log}) == 1
    assert log[0][3] != threading.get_ident()


@pytest.mark.parametrize("kind", WORKERS)
def test_async_contexts_surround_an_async_task_in_its_asyncio_task(real_spin, recorder, kind):
    log: list = []
    real_spin.add_job_context(async_context=recording_async_context(log, "outer"))
    real_spin.add_job_context(
        recording_context(log, "sync-only"),  # not used for async tasks
        async_context=recording_async_context(log, "inner"),
    )

    @real_spin.task(name="work")
    async def work():
        log.append(("task", entered_by.get(), "work", id(asyncio.current_task())))

    real_spin.schedule(work)
    real_spin.start_workers(number=2, stop_when_queue_empty=True, workers_class=WORKERS[kind])

    assert recorder.count("job_failed") == 0, recorder.errors("job_failed")
    assert [entry[:3] for entry in log] == [
        ("outer", "enter", "work"),
        ("inner", "enter", "work"),
        ("task", "inner", "work"),
        ("inner", "exit", "work"),
        ("outer", "exit", "work"),
    ]
    assert len({entry[3] for entry in log}) == 1  # one asyncio task


def test_jobs_without_contexts_are_untouched(real_spin, recorder):
    """A context of one engine never reaches the jobs of another."""
    from spinach import Engine, MemoryBroker

    other = Engine(MemoryBroker(), namespace=real_spin.namespace + "-other")
    log: list = []
    other.add_job_context(recording_context(log, "other"))

    @real_spin.task(name="work")
    def work():
        return entered_by.get()

    real_spin.schedule(work)
    real_spin.start_workers(number=1, stop_when_queue_empty=True)
    assert recorder.count("job_finished") == 1
    assert log == []


@pytest.mark.parametrize("kind", WORKERS)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("where", ["enter", "exit"])
def test_an_exception_of_a_context_is_the_jobs_error(real_spin, recorder, kind, is_async, where):
    ran = []

    class Broken(Exception):
        pass

    if is_async:

        @contextlib.asynccontextmanager
        async def context(job):
            if where == "enter":
                raise Broken("on enter")
            yield
            raise Broken("on exit")

        real_spin.add_job_context(async_context=context)

        @real_spin.task(name="work", max_retries=0)
        async def work():
            ran.append(True)

    else:

        @contextlib.contextmanager
        def context(job):
            if where == "enter":
                raise Broken("on enter")
            yield
            raise Broken("on exit")

        real_spin.add_job_context(context)

        @real_spin.task(name="work", max_retries=0)
        def work():
            ran.append(True)

    real_spin.schedule(work)
    real_spin.start_workers(number=1, stop_when_queue_empty=True, workers_class=WORKERS[kind])

    assert ran == ([] if where == "enter" else [True])
    [err] = recorder.errors("job_failed")
    assert isinstance(err, Broken)
    [job] = recorder.jobs("job_failed")
    assert job.status is JobStatus.FAILED


def test_a_failing_context_is_retried_like_the_task(real_spin, recorder):
    @contextlib.contextmanager
    def flaky(job):
        raise ConnectionError("database restarting")
        yield

    real_spin.add_job_context(flaky)

    @real_spin.task(name="work", max_retries=2)
    def work():
        pass

    real_spin.schedule(work)
    real_spin.start_workers(number=1, block=False)
    recorder.wait_count("job_schedule_retry", 1)
    real_spin.stop_workers()
    [err] = recorder.errors("job_schedule_retry")
    assert isinstance(err, ConnectionError)
    [job] = recorder.jobs("job_schedule_retry")
    assert job.status is JobStatus.WAITING and job.retries == 1
    assert recorder.count("job_failed") == 0


@pytest.mark.parametrize("kind", WORKERS)
def test_a_timeout_counts_the_time_of_an_async_context(real_spin, recorder, kind):
    never = asyncio.Event

    @contextlib.asynccontextmanager
    async def stuck(job):
        await never().wait()  # a hook that hangs (a database that never answers)
        yield

    real_spin.add_job_context(async_context=stuck)

    @real_spin.task(name="work", max_retries=0, timeout=timedelta(seconds=0.2))
    async def work():
        pass

    real_spin.schedule(work)
    real_spin.start_workers(number=1, block=False, workers_class=WORKERS[kind])
    recorder.wait_count("job_failed", 1, timeout=20)
    real_spin.stop_workers()
    from spinach.exc import JobTimeoutError

    assert isinstance(recorder.errors("job_failed")[0], JobTimeoutError)


@pytest.mark.parametrize(
    "args, kwargs",
    [((), {}), ((42,), {}), ((), {"async_context": "not callable"})],
)
def test_add_job_context_refuses_bad_arguments(real_spin, args, kwargs):
    with pytest.raises(TypeError):
        real_spin.add_job_context(*args, **kwargs)


def test_a_context_swallowing_the_failure_of_another_does_not_pass_for_a_success(
    real_spin, recorder
):
    ran = []

    @contextlib.contextmanager
    def swallowing(job):
        try:
            yield
        except Exception:
            pass  # the mistake: no re-raise

    @contextlib.contextmanager
    def broken(job):
        raise ConnectionError("cannot open")
        yield

    real_spin.add_job_context(swallowing)
    real_spin.add_job_context(broken)

    @real_spin.task(name="work", max_retries=0)
    def work():
        ran.append(True)

    real_spin.schedule(work)
    real_spin.start_workers(number=1, stop_when_queue_empty=True)
    assert ran == []
    [err] = recorder.errors("job_failed")
    assert isinstance(err, RuntimeError) and "did not run" in str(err)
