"""Database connections are recycled around each job, as Django does around requests."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
from django.db import connection, connections

from spinach import Tasks, signals
from spinach.job import Job, JobStatus

pytestmark = pytest.mark.django_db(transaction=True)


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
        if keep_forever:  # as with CONN_MAX_AGE = None
            connection.close_at = None

    project_engine.attach_tasks(tasks)
    return seen


def test_connection_closed_when_a_job_ends(project_engine, db_tasks, recorder):
    # The project keeps the default CONN_MAX_AGE = 0: a connection lives for one job.
    project_engine.schedule("query", False)
    project_engine.start_workers(number=1, stop_when_queue_empty=True)

    assert recorder.jobs("job_finished")[0].status is JobStatus.SUCCEEDED
    assert db_tasks["raw"] is not None  # the job did open a connection ...
    assert db_tasks["wrapper"].connection is None  # ... closed once it ended


def in_a_thread(namespace: str, signal) -> dict:
    """In a fresh thread: open a connection, make it obsolete, send ``signal``."""
    result = {}

    def run():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            connection.close_at = time.monotonic() - 1  # older than CONN_MAX_AGE
            job = Job("query", "spinach", datetime.now(timezone.utc), 0)
            signal.send(namespace, job=job)
            result["after"] = connection.connection
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    return result


def test_job_finished_closes_obsolete_connections_of_its_namespace_only(project_engine):
    """The hook on job_finished itself, as the worker thread sends it after a job."""
    assert in_a_thread(project_engine.namespace, signals.job_finished)["after"] is None
    assert in_a_thread("another-namespace", signals.job_finished)["after"] is not None


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
