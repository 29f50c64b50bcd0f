"""``python manage.py spinach [--queue Q] [--threads N]`` starts workers, blocking."""

from __future__ import annotations

import io
import itertools
import os
import signal
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from spinach import Tasks
from spinach.contrib.spinachd import get_engine

from .conftest import PROJECT


def workers_started(recorder) -> int:
    return sum(1 for name, _ in recorder.events if name == "worker_started")


@pytest.fixture
def engine(recorder_for):
    """The project's Engine, with a recorder; its queues are emptied after the test."""
    engine = get_engine()
    engine.recorder = recorder_for(engine.namespace)
    yield engine
    engine.broker.flush()


_names = itertools.count()


def attach(engine, **options):
    """Attach a task stopping the workers, as a registry of the project would be."""
    tasks = Tasks()

    @tasks.task(name=f"stop-{next(_names)}", **options)
    def stop():
        engine.stop_workers()  # ends the blocking command

    engine.attach_tasks(tasks)
    return stop


def test_default_queue_and_threads(engine):
    stop = attach(engine)
    engine.schedule(stop)
    out = io.StringIO()

    call_command("spinach", stdout=out)

    assert (
        "Starting 5 Spinach workers on queue 'spinach' of namespace 'spinachd-tests'"
        in out.getvalue()
    )
    assert "Spinach workers stopped" in out.getvalue()
    assert workers_started(engine.recorder) == 5
    assert engine.recorder.count("job_finished") == 1


def test_queue_and_threads_options(engine):
    stop = attach(engine, queue="high-priority")
    other = attach(engine)
    engine.schedule(other)
    engine.schedule(stop)

    call_command("spinach", "--queue", "high-priority", "--threads", "3", stdout=io.StringIO())

    assert workers_started(engine.recorder) == 3
    assert [j.queue for j in engine.recorder.jobs("job_finished")] == ["high-priority"]
    assert engine.broker.queue_length("spinach") == 1  # not its queue


def test_stop_when_empty_option(engine):
    tasks = Tasks()
    tasks.add(lambda n: None, name="noop-for-command")
    engine.attach_tasks(tasks)
    for n in range(3):
        engine.schedule("noop-for-command", n)

    call_command("spinach", "--stop-when-empty", "--threads", "2", stdout=io.StringIO())

    assert engine.recorder.count("job_finished", "noop-for-command") == 3


@pytest.mark.parametrize("threads", ["0", "-3", "many"])
def test_invalid_threads_are_refused(engine, threads):
    with pytest.raises(CommandError, match="--threads"):
        call_command("spinach", "--threads", threads)
    assert workers_started(engine.recorder) == 0


def test_invalid_queue_is_a_command_error(engine):
    with pytest.raises(CommandError, match="invalid queue name 'bad queue'"):
        call_command("spinach", "--queue", "bad queue", stdout=io.StringIO())


def test_real_manage_py_command_stops_gracefully_on_sigint(tmp_path):
    """``python manage.py spinach --queue Q --threads N`` in a real process, ended by ^C."""
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        SPINACH_DJANGO_TMP=str(tmp_path),
        SPINACH_DJANGO_LOG_TO_STDERR="1",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py sets it
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "spinach", "--queue", "high-priority", "--threads", "2"],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # the project's LOGGING sends spinach's INFO logs here
            seen.append(line)
            if "Started 2 ThreadWorkers on queue 'high-priority'" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    output = "".join(seen) + out
    assert proc.returncode == 0, output
    assert output.startswith(
        "Starting 2 Spinach workers on queue 'high-priority' of namespace 'spinachd-tests'"
    ), output
    assert "Received SIGINT: stopping once running jobs finish" in output
    assert output.rstrip().endswith("Spinach workers stopped")


def test_asyncio_workers_class_runs_async_tasks_on_an_event_loop(engine):
    import asyncio

    seen = {}
    tasks = Tasks()

    @tasks.task(name="async-for-command")
    async def on_the_loop(n):
        seen[n] = asyncio.get_running_loop() is not None

    @tasks.task(name="sync-for-command")
    def in_a_thread(n):
        seen[f"sync{n}"] = True

    engine.attach_tasks(tasks)
    engine.schedule("async-for-command", 1)
    engine.schedule("sync-for-command", 2)
    out = io.StringIO()

    call_command(
        "spinach",
        "--workers-class",
        "asyncio",
        "--concurrency",
        "50",
        "--stop-when-empty",
        stdout=out,
    )

    assert "Starting 50 Spinach asyncio workers" in out.getvalue()
    assert seen == {1: True, "sync2": True}
    assert workers_started(engine.recorder) == 50


def test_unknown_workers_class_is_refused(engine):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="invalid choice: 'gevent'"):
        call_command("spinach", "--workers-class", "gevent", stdout=io.StringIO())


def test_several_queues_in_priority_order(engine):
    tasks = Tasks()
    ran = []
    tasks.add(lambda: ran.append("low"), name="low-for-command", queue="low")
    tasks.add(lambda: ran.append("high"), name="high-for-command", queue="high")
    engine.attach_tasks(tasks)
    engine.schedule("low-for-command")
    engine.schedule("high-for-command")
    out = io.StringIO()

    call_command(
        "spinach", "--queue", "high,low", "--threads", "1", "--stop-when-empty", stdout=out
    )

    assert "on queues ['high', 'low']" in out.getvalue()
    assert ran == ["high", "low"]
