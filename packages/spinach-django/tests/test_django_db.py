"""Database connections are recycled around each job, as Django does around requests."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections

from spinach import AsyncioWorkers, Tasks, ThreadWorkers
from spinach.job import JobStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def close_asgiref_connections():
    """Close what persistent connections tests leave in asgiref's thread, which outlives them."""
    yield
    asyncio.run(sync_to_async(connections.close_all)())


@pytest.fixture
def db_tasks(project_engine):
    """Tasks recording the worker thread's connection wrapper and its state."""
    tasks = Tasks()
    seen = {}

    @tasks.task(name="query")
    def query(keep_forever: bool):
        seen["start"] = connection.connection  # before the task touches the database
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        seen["wrapper"] = connections["default"]
        seen["raw"] = connection.connection
        seen["thread"] = threading.current_thread().name
        seen["queries"] = len(connection.queries)
        if keep_forever:  # as with CONN_MAX_AGE = None
            connection.close_at = None

    @tasks.task(name="aquery")
    async def aquery(keep_forever: bool):
        """The same through sync_to_async, as async Django code does."""
        await sync_to_async(query)(keep_forever)

    project_engine.attach_tasks(tasks)
    return seen


WORKERS = {"threads": ThreadWorkers, "asyncio": AsyncioWorkers}
#: Where a job's database code runs: a sync task, or an async task's sync_to_async calls.
TASKS = ["query", "aquery"]


def test_connection_closed_when_a_job_ends(project_engine, db_tasks, recorder):
    # The project keeps the default CONN_MAX_AGE = 0: a connection lives for one job.
    project_engine.schedule("query", False)
    project_engine.start_workers(number=1, stop_when_queue_empty=True)

    assert recorder.jobs("job_finished")[0].status is JobStatus.SUCCEEDED
    assert db_tasks["raw"] is not None  # the job did open a connection ...
    assert db_tasks["wrapper"].connection is None  # ... closed once it ended


def test_obsolete_connection_closed_when_a_job_starts(project_engine, db_tasks, recorder):
    project_engine.start_workers(number=1, block=False)
    project_engine.schedule("query", True)
    recorder.wait_count("job_finished", 1)
    wrapper, first_raw = db_tasks["wrapper"], db_tasks["raw"]
    assert wrapper.connection is first_raw  # persistent: kept open after the job

    # It grew too old (or the database restarted) while the worker was idle.
    wrapper.close_at = time.monotonic() - 1
    project_engine.schedule("query", True)
    recorder.wait_count("job_finished", 2)
    project_engine.stop_workers()

    assert db_tasks["start"] is None  # closed before the second job ran
    assert db_tasks["raw"] is not first_raw  # which then got a new one
    assert all(j.status is JobStatus.SUCCEEDED for j in recorder.jobs("job_finished"))


def test_worker_threads_close_their_connections_when_they_stop(project_engine, db_tasks):
    project_engine.schedule("query", True)  # would otherwise stay open for ever
    project_engine.start_workers(number=1, stop_when_queue_empty=True)
    assert db_tasks["wrapper"].connection is None


def test_debug_query_log_is_reset_for_each_job(project_engine, settings, recorder):
    settings.DEBUG = True
    tasks = Tasks()
    counts = []

    @tasks.task(name="count_queries")
    def count_queries():
        counts.append(len(connection.queries))
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        connection.close_at = None  # keep the connection and its log between jobs

    project_engine.attach_tasks(tasks)
    for _ in range(3):
        project_engine.schedule("count_queries")
    project_engine.start_workers(number=1, stop_when_queue_empty=True)
    assert counts == [0, 0, 0]


@pytest.mark.parametrize("kind", WORKERS)
@pytest.mark.parametrize("task", TASKS)
def test_connection_closed_when_a_job_ends_on_every_kind_of_worker(
    project_engine, db_tasks, recorder, kind, task
):
    """Sync tasks on AsyncioWorkers run in executor threads, async ones use
    asgiref's thread: the connections there are recycled too."""
    project_engine.schedule(task, False)
    project_engine.start_workers(number=2, stop_when_queue_empty=True, workers_class=WORKERS[kind])

    assert recorder.jobs("job_finished")[0].status is JobStatus.SUCCEEDED
    assert db_tasks["raw"] is not None
    assert db_tasks["wrapper"].connection is None


@pytest.mark.parametrize("kind", WORKERS)
@pytest.mark.parametrize("task", TASKS)
def test_obsolete_connection_closed_before_a_job_on_every_kind_of_worker(
    project_engine, db_tasks, recorder, kind, task
):
    project_engine.start_workers(number=1, block=False, workers_class=WORKERS[kind])
    project_engine.schedule(task, True)
    recorder.wait_count("job_finished", 1)
    wrapper, first_raw = db_tasks["wrapper"], db_tasks["raw"]
    assert wrapper.connection is first_raw  # persistent: kept open after the job

    wrapper.close_at = time.monotonic() - 1  # it grew too old while the worker was idle
    project_engine.schedule(task, True)
    recorder.wait_count("job_finished", 2)
    project_engine.stop_workers()

    assert db_tasks["wrapper"] is wrapper  # the same thread ran both jobs ...
    assert db_tasks["start"] is None  # ... and the obsolete connection was closed before
    assert db_tasks["raw"] is not first_raw
    assert all(j.status is JobStatus.SUCCEEDED for j in recorder.jobs("job_finished"))


@pytest.mark.parametrize("kind", WORKERS)
@pytest.mark.parametrize("task", TASKS)
def test_debug_query_log_is_reset_before_each_job_on_every_kind_of_worker(
    project_engine, db_tasks, settings, recorder, kind, task
):
    settings.DEBUG = True
    for _ in range(3):
        project_engine.schedule(task, True)  # keep the connection and its log between jobs
    project_engine.start_workers(number=1, stop_when_queue_empty=True, workers_class=WORKERS[kind])
    assert recorder.count("job_finished") == 3
    assert db_tasks["queries"] == 1  # its own query only, not those of the jobs before
