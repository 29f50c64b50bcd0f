"""SRE6: a cancelled job's app context is torn down as a success: half its work is committed.

The extension pops each job's application context with the job's error, so
that teardown functions (Flask-SQLAlchemy's session removal, the usual
"commit if no error, else roll back" of ``teardown_appcontext``) roll a
failed job back, as Flask does for a request.  The error is collected from
``job_schedule_retry`` and ``job_failed``, but a job stopped by
``Engine.cancel()`` ends ``CANCELLED`` without either signal: the context is
popped with no error, so the teardown commits.

User's impact: an operator cancels a long import or a wrong bulk update
half-way (the point of cancelling it) and the rows it wrote before it saw the
request are committed: the data is left half-changed, as if the job had
succeeded up to there.  Same for an async task cancelled on AsyncioWorkers.

Fails today: the teardown gets ``None`` and the first half of the job's writes
is in the database.
Suggested fix: in ``AppState._job_finished``, pop the context with an
exception when ``job.status`` is ``CANCELLED`` (a ``JobCancelledError``, or
the error the runner recorded), as for a failed job.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from flask import Flask, current_app, g

from spinach import AsyncioWorkers, Tasks, ThreadWorkers, current_job
from spinach.job import JobStatus


class Database:
    """A teardown_appcontext extension in the style of Flask-SQLAlchemy's session."""

    def __init__(self, app: Flask) -> None:
        self.teardowns: list[BaseException | None] = []
        app.teardown_appcontext(self._teardown)

    @property
    def connection(self) -> sqlite3.Connection:
        if "db" not in g:
            g.db = sqlite3.connect(current_app.config["DATABASE"], check_same_thread=False)
        return g.db

    def _teardown(self, exc: BaseException | None) -> None:
        self.teardowns.append(exc)
        db = g.pop("db", None)
        if db is not None:
            if exc is None:
                db.commit()
            else:
                db.rollback()
            db.close()


def rows(app: Flask) -> list[str]:
    with sqlite3.connect(app.config["DATABASE"]) as conn:
        return [r[0] for r in conn.execute("SELECT step FROM imported ORDER BY step")]


@pytest.fixture
def app_db(make_app, tmp_path):
    app, spinach = make_app()
    app.config["DATABASE"] = str(tmp_path / "app.sqlite3")
    with sqlite3.connect(app.config["DATABASE"]) as conn:
        conn.execute("CREATE TABLE imported (step TEXT)")
    return app, spinach, Database(app)


def test_cancelled_sync_job_is_rolled_back(app_db, recorder):
    app, spinach, db = app_db
    tasks = Tasks(track=True)  # cancel() needs a record of the job
    half_done, go_on = threading.Event(), threading.Event()

    @tasks.task(name="import_orders")
    def import_orders():
        db.connection.execute("INSERT INTO imported VALUES ('first half')")
        half_done.set()
        assert go_on.wait(10)
        current_job().raise_if_cancelled()  # as the documentation says to
        db.connection.execute("INSERT INTO imported VALUES ('second half')")

    spinach.register_tasks(app, tasks)
    engine = spinach.get_engine(app)
    with app.app_context():
        job = spinach.schedule("import_orders")
    engine.start_workers(number=1, block=False, workers_class=ThreadWorkers)
    assert half_done.wait(10)
    db.teardowns.clear()
    engine.cancel(job.id)  # the operator stops the import
    go_on.set()
    recorder.wait_count("job_finished", 1)
    engine.stop_workers()

    assert recorder.jobs("job_finished")[0].status is JobStatus.CANCELLED
    assert rows(app) == [], (
        f"the cancelled job's writes were committed; its teardown got {db.teardowns}"
    )


def test_cancelled_async_job_is_rolled_back(app_db, recorder):
    app, spinach, db = app_db
    tasks = Tasks(track=True)
    half_done = threading.Event()

    @tasks.task(name="import_orders_async")
    async def import_orders_async():
        db.connection.execute("INSERT INTO imported VALUES ('first half')")
        half_done.set()
        await asyncio.Event().wait()  # the rest of a long import, cancelled here
        db.connection.execute("INSERT INTO imported VALUES ('second half')")

    spinach.register_tasks(app, tasks)
    engine = spinach.get_engine(app)
    with app.app_context():
        job = spinach.schedule("import_orders_async")
    engine.start_workers(number=1, block=False, workers_class=AsyncioWorkers)
    assert half_done.wait(10)
    db.teardowns.clear()
    engine.cancel(job.id)
    recorder.wait_count("job_finished", 1)
    engine.stop_workers()

    assert recorder.jobs("job_finished")[0].status is JobStatus.CANCELLED
    assert rows(app) == [], (
        f"the cancelled job's writes were committed; its teardown got {db.teardowns}"
    )
