"""Every job runs in an application context of its own application."""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask, current_app, g, has_app_context

from spinach import AsyncioWorkers, MemoryBroker, signals
from spinach.arbiter import UNKNOWN_TASK_GRACE
from spinach.job import Job, JobStatus


class Database:
    """A minimal Flask extension in the style of Flask-SQLAlchemy.

    A connection is opened on first use within an application context,
    stored on ``g``, committed or rolled back and closed when the context is
    torn down.  It records each teardown so tests can check what it got.
    """

    def __init__(self, app: Flask | None = None) -> None:
        self.teardowns: list[BaseException | None] = []
        self.lock = threading.Lock()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        app.extensions["database"] = self
        app.teardown_appcontext(self._teardown)

    @property
    def connection(self) -> sqlite3.Connection:
        if "db" not in g:
            g.db = sqlite3.connect(current_app.config["DATABASE"])
        return g.db

    def _teardown(self, exc: BaseException | None) -> None:
        with self.lock:
            self.teardowns.append(exc)
        db = g.pop("db", None)
        if db is not None:
            if exc is None:
                db.commit()
            else:
                db.rollback()
            db.close()


@pytest.fixture
def app_db(make_app, tmp_path):
    app, spinach = make_app()
    app.config["DATABASE"] = str(tmp_path / "app.sqlite3")
    db = Database(app)
    with sqlite3.connect(app.config["DATABASE"]) as conn:
        conn.execute("CREATE TABLE greetings (text TEXT)")
    return app, spinach, db


def rows(app: Flask) -> list[str]:
    with sqlite3.connect(app.config["DATABASE"]) as conn:
        return [r[0] for r in conn.execute("SELECT text FROM greetings ORDER BY text")]


def test_task_uses_current_app_and_an_extension(app_db, recorder):
    app, spinach, db = app_db
    app.config["GREETING"] = "hello"

    @spinach.task(name="greet")
    def greet(who):
        text = f"{current_app.config['GREETING']} {who}"
        db.connection.execute("INSERT INTO greetings VALUES (?)", (text,))

    with app.test_request_context():
        spinach.schedule("greet", "alice")
        spinach.schedule(greet, "bob")
    db.teardowns.clear()  # the request context's own teardown
    spinach.get_engine(app).start_workers(number=2, stop_when_queue_empty=True)

    assert [j.status for j in recorder.jobs("job_finished")] == [JobStatus.SUCCEEDED] * 2
    # Committed by the extension's teardown: the context was popped at the end of each job.
    assert rows(app) == ["hello alice", "hello bob"]
    assert db.teardowns == [None, None]


def test_teardown_gets_the_error_of_a_failing_job(app_db, recorder):
    app, spinach, db = app_db
    boom = ValueError("boom")

    @spinach.task(name="fail", max_retries=1)
    def fail():
        db.connection.execute("INSERT INTO greetings VALUES ('never committed')")
        raise boom

    engine = spinach.get_engine(app)
    with app.app_context():
        spinach.schedule("fail")
    db.teardowns.clear()
    engine.start_workers(number=1, block=False)
    recorder.wait_count("job_schedule_retry", 1)
    recorder.wait_count("job_finished", 1)
    engine.stop_workers()

    assert db.teardowns == [boom]
    assert rows(app) == []  # rolled back because the teardown saw the error


def test_each_job_has_its_own_context(make_app, recorder):
    """Two jobs running at once each see their own ``g``, never the other's."""
    app, spinach = make_app()
    barrier = threading.Barrier(2, timeout=10)
    seen = {}

    @spinach.task(name="remember")
    def remember(value):
        g.value = value
        barrier.wait()  # both jobs are running now
        seen[value] = (g.value, current_app._get_current_object())

    with app.app_context():
        spinach.schedule("remember", 1)
        spinach.schedule("remember", 2)
    spinach.get_engine(app).start_workers(number=2, stop_when_queue_empty=True)

    assert seen == {1: (1, app), 2: (2, app)}


def test_no_context_leaks_between_jobs_of_a_worker(make_app, recorder):
    app, spinach = make_app()
    seen = []

    @spinach.task(name="look")
    def look(n):
        seen.append((n, "value" in g))
        g.value = n

    with app.app_context():
        for n in range(3):
            spinach.schedule("look", n)
    spinach.get_engine(app).start_workers(number=1, stop_when_queue_empty=True)

    assert seen == [(0, False), (1, False), (2, False)]


def test_asyncio_workers_push_the_context_too(make_app, recorder):
    app, spinach = make_app()
    seen = []

    @spinach.task(name="async_task")
    async def async_task():
        seen.append(("async", current_app.name))

    @spinach.task(name="sync_task")
    def sync_task():
        seen.append(("sync", current_app.name))

    with app.app_context():
        spinach.schedule("async_task")
        spinach.schedule("sync_task")
    spinach.get_engine(app).start_workers(
        number=2, stop_when_queue_empty=True, workers_class=AsyncioWorkers
    )

    assert sorted(seen) == [("async", "testapp"), ("sync", "testapp")]
    assert recorder.count("job_failed") == 0


def test_job_failed_without_job_started_is_harmless(make_app, recorder, caplog, monkeypatch):
    monkeypatch.setattr("spinach.arbiter.UNKNOWN_TASK_GRACE", -1.0)  # no grace: fails at once
    """A job of an unknown task fails with no job_started: nothing to pop, no error."""
    app, spinach = make_app()
    ran = []

    @spinach.task(name="known")
    def known():
        ran.append(current_app.name)

    engine = spinach.get_engine(app)
    # Nobody knew its task for longer than the grace: it fails without starting.
    long_ago = datetime.now(timezone.utc) - timedelta(seconds=UNKNOWN_TASK_GRACE + 60)
    unknown = Job("deployed_elsewhere", "spinach", long_ago, 0)
    assert isinstance(engine.broker, MemoryBroker)
    engine.broker.inject_raw_payload("spinach", unknown.serialize())
    with app.app_context():
        spinach.schedule("known")
    with caplog.at_level(logging.ERROR, logger="spinach.signals"):
        engine.start_workers(number=1, stop_when_queue_empty=True)

    assert [j.task_name for j in recorder.jobs("job_failed")] == ["deployed_elsewhere"]
    assert recorder.count("job_started", "deployed_elsewhere") == 0
    assert ran == ["testapp"]
    assert not [r for r in caplog.records if r.name == "spinach.signals"]


def test_job_failed_signal_for_a_lost_job_is_harmless(make_app, recorder, caplog):
    """The signal the arbiter sends for a job lost with a dead worker, outside any job."""
    _app, _spinach = make_app()  # kept alive: its receivers listen to the namespace
    lost = Job("lost", "spinach", datetime.now(timezone.utc), 0)
    with caplog.at_level(logging.ERROR, logger="spinach.signals"):
        signals.job_failed.send(recorder.namespace, job=lost, err=RuntimeError("lost"))
    assert not has_app_context()
    assert not [r for r in caplog.records if r.name == "spinach.signals"]


def test_two_apps_do_not_see_each_others_jobs_or_signals(make_app, recorder_for, namespace):
    first, spinach = make_app(name="first", namespace_=f"{namespace}-first")
    second, _ = make_app(spinach, name="second", namespace_=f"{namespace}-second")
    rec_first, rec_second = recorder_for(f"{namespace}-first"), recorder_for(f"{namespace}-second")
    seen = []

    @spinach.task(name="where")
    def where(tag):
        seen.append((tag, current_app.name))

    with first.app_context():
        spinach.schedule("where", "from first")
    with second.app_context():
        spinach.schedule("where", "from second")

    spinach.get_engine(first).start_workers(number=1, stop_when_queue_empty=True)
    assert seen == [("from first", "first")]
    assert rec_first.count("job_finished") == 1
    assert rec_second.events == []

    spinach.get_engine(second).start_workers(number=1, stop_when_queue_empty=True)
    assert seen == [("from first", "first"), ("from second", "second")]
    assert rec_first.count("job_finished") == 1
    assert rec_second.count("job_finished") == 1


def test_two_live_apps_on_one_namespace_run_each_job_in_its_own_app(make_app, recorder):
    """Two apps of one factory, same namespace, workers running at once: no mix-up."""
    first, spinach = make_app(name="first")
    second, _ = make_app(spinach, name="second")  # same namespace, its own broker
    seen = []
    lock = threading.Lock()

    @spinach.task(name="where")
    def where(tag):
        with lock:
            seen.append((tag, current_app.name))

    for app in (first, second):
        with app.app_context():
            for _ in range(20):
                spinach.schedule("where", app.name)
    for app in (first, second):
        spinach.get_engine(app).start_workers(number=4, block=False)
    recorder.wait_count("job_finished", 40)
    for app in (first, second):
        spinach.get_engine(app).stop_workers()

    assert len(seen) == 40
    assert all(tag == name for tag, name in seen), seen
