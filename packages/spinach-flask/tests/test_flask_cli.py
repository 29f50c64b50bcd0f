"""The ``flask spinach`` command starts workers, blocking, with --queue and --threads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from flask import current_app

from .conftest import TESTAPPS


def workers_started(recorder) -> int:
    return sum(1 for name, _ in recorder.events if name == "worker_started")


def test_command_is_listed_in_flask_help(make_app):
    app, _ = make_app()
    result = app.test_cli_runner().invoke(args=["--help"])
    assert result.exit_code == 0
    assert "spinach" in result.output
    result = app.test_cli_runner().invoke(args=["spinach", "--help"])
    assert "--queue" in result.output and "--threads" in result.output


def test_default_queue_and_threads(make_app, recorder):
    app, spinach = make_app()
    engine = spinach.get_engine(app)
    ran = []

    @spinach.task(name="stop")
    def stop():
        try:
            ran.append(current_app.name)
        finally:
            engine.stop_workers()  # ends the blocking command, whatever happened

    with app.app_context():
        spinach.schedule("stop")
    result = app.test_cli_runner().invoke(args=["spinach"])

    assert result.exit_code == 0, result.output
    assert "Starting 5 Spinach workers on queue 'spinach'" in result.output
    assert "Spinach workers stopped" in result.output
    assert ran == ["testapp"]
    assert workers_started(recorder) == 5


def test_queue_and_threads_options(make_app, recorder):
    app, spinach = make_app()
    engine = spinach.get_engine(app)

    @spinach.task(name="urgent", queue="high-priority")
    def urgent():
        engine.stop_workers()

    @spinach.task(name="later")
    def later():
        pass

    with app.app_context():
        spinach.schedule("later")
        spinach.schedule("urgent")
    result = app.test_cli_runner().invoke(
        args=["spinach", "--queue", "high-priority", "--threads", "3"]
    )

    assert result.exit_code == 0, result.output
    assert workers_started(recorder) == 3
    assert [j.task_name for j in recorder.jobs("job_finished")] == ["urgent"]
    assert spinach.get_engine(app).broker.queue_length("spinach") == 1  # not its queue


def test_stop_when_empty_option(make_app, recorder):
    app, spinach = make_app()
    spinach.task(lambda n: None, name="noop")
    with app.app_context():
        for n in range(4):
            spinach.schedule("noop", n)
    result = app.test_cli_runner().invoke(args=["spinach", "--stop-when-empty", "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert recorder.count("job_finished") == 4


@pytest.mark.parametrize("threads", ["0", "-1", "many"])
def test_invalid_threads_are_refused(make_app, threads, recorder):
    app, _ = make_app()
    result = app.test_cli_runner().invoke(args=["spinach", "--threads", threads])
    assert result.exit_code == 2
    assert "--threads" in result.output
    assert workers_started(recorder) == 0


def test_invalid_queue_is_a_clean_error(make_app, recorder):
    app, _ = make_app()
    result = app.test_cli_runner().invoke(args=["spinach", "--queue", "bad queue"])
    assert result.exit_code == 1
    assert "invalid queue name 'bad queue'" in result.output
    assert workers_started(recorder) == 0


def test_real_flask_command_stops_gracefully_on_sigint():
    """``FLASK_APP=... flask spinach --queue Q --threads N`` in a real process, ended by ^C."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(TESTAPPS), os.environ.get("PYTHONPATH", "")]),
        FLASK_APP="flask_spinach_examples.cli_app",
        GREETING="bonjour",
        GREET_QUEUE="high-priority",
        PYTHONUNBUFFERED="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "spinach", "--queue", "high-priority", "--threads", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "bonjour from" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    output = "".join(seen) + out
    assert proc.returncode == 0, err
    assert (
        "Starting 2 Spinach workers on queue 'high-priority' of namespace "
        "'flask_spinach_examples.cli_app'"
    ) in output
    assert "bonjour from flask_spinach_examples.cli_app" in output
    assert output.rstrip().endswith("Spinach workers stopped")


def test_asyncio_workers_class_runs_jobs_in_the_app_context(make_app, recorder):
    import asyncio

    app, spinach = make_app()
    seen = []

    @spinach.task(name="async-job")
    async def async_job():
        seen.append((current_app.name, asyncio.get_running_loop() is not None))

    @spinach.task(name="sync-job")
    def sync_job():
        seen.append((current_app.name, "sync"))

    with app.app_context():
        spinach.schedule("async-job")
        spinach.schedule("sync-job")
    result = app.test_cli_runner().invoke(
        args=[
            "spinach",
            "--workers-class",
            "asyncio",
            "--concurrency",
            "20",
            "--stop-when-queue-empty",
        ]
    )

    assert result.exit_code == 0, result.output
    assert "Starting 20 Spinach asyncio workers" in result.output
    assert sorted(seen, key=str) == sorted([("testapp", True), ("testapp", "sync")], key=str)
    assert workers_started(recorder) == 20


def test_async_view_schedules_without_blocking(make_app):
    app, spinach = make_app()

    @spinach.task(name="from-async-view")
    def from_async_view(n):
        pass

    @app.get("/async")
    async def view():
        job = await spinach.aschedule("from-async-view", 1)
        return job.task_name

    response = app.test_client().get("/async")
    assert response.data == b"from-async-view"
    assert spinach.get_engine(app).broker.queue_length("spinach") == 1


def test_several_queues_in_priority_order(make_app, recorder):
    app, spinach = make_app()
    ran = []

    @spinach.task(name="low-job", queue="low")
    def low_job():
        ran.append("low")

    @spinach.task(name="high-job", queue="high")
    def high_job():
        ran.append("high")

    with app.app_context():
        spinach.schedule("low-job")
        spinach.schedule("high-job")
    result = app.test_cli_runner().invoke(
        args=["spinach", "--queue", "high,low", "--threads", "1", "--stop-when-empty"]
    )
    assert result.exit_code == 0, result.output
    assert "on queues ['high', 'low']" in result.output
    assert ran == ["high", "low"]
