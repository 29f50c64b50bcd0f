"""Django code written for the original spinach 0.0.25 keeps working.

``from spinach.contrib.spinachd import spin``, ``manage.py spinach
--stop-when-queue-empty`` and the name of the session clean-up task.
"""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command

from spinach import Tasks
from spinach.contrib.spinachd import get_engine
from spinach.contrib.spinachd.engine import create_engine
from spinach.engine import Engine

from .conftest import PROJECT


def test_spin_is_the_engine_built_from_the_settings(settings):
    from spinach.contrib.spinachd import spin

    assert isinstance(spin, Engine)
    assert spin is get_engine()
    assert spin.namespace == "spinachd-tests"
    assert spin.broker is settings.SPINACH_BROKER
    assert "polls:close_poll" in spin.tasks


def test_spin_is_found_by_attribute_too_and_other_names_are_not():
    import spinach.contrib.spinachd as spinachd

    assert spinachd.spin is get_engine()
    with pytest.raises(AttributeError, match="has no attribute 'spun'"):
        spinachd.spun  # noqa: B018 - the attribute lookup is what is tested
    with pytest.raises(ImportError):
        exec("from spinach.contrib.spinachd import spun", {})


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env_code = (
        "import os, sys\n"
        f"sys.path.insert(0, {str(PROJECT)!r})\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'testproject.settings'\n"
    )
    return subprocess.run(
        [sys.executable, "-c", env_code + code], capture_output=True, text=True, timeout=120
    )


def test_spin_before_django_is_set_up_is_a_clear_error_and_the_import_is_harmless():
    result = run_python(
        "import spinach.contrib.spinachd\n"
        "try:\n"
        "    from spinach.contrib.spinachd import spin\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, 'django.setup()' in str(exc))\n"
        "import django\n"
        "django.setup()\n"
        "from spinach.contrib.spinachd import spin\n"
        "print(spin.namespace)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ImproperlyConfigured", "True", "spinachd-tests"]


@pytest.fixture
def engine(recorder_for):
    """The project's Engine, with a recorder; its queues are emptied after the test."""
    engine = get_engine()
    engine.recorder = recorder_for(engine.namespace)
    yield engine
    engine.broker.flush()


@pytest.mark.parametrize("option", ["--stop-when-queue-empty", "--stop-when-empty"])
def test_stop_when_queue_empty_option_and_its_alias(engine, option):
    name = f"noop-{option.strip('-')}"
    tasks = Tasks()
    tasks.add(lambda n: None, name=name)
    engine.attach_tasks(tasks)
    for n in range(3):
        engine.schedule(name, n)

    out = io.StringIO()
    call_command("spinach", option, "--threads", "2", stdout=out)

    assert engine.recorder.count("job_finished", name) == 3
    assert "Spinach workers stopped" in out.getvalue()


@pytest.mark.parametrize("keyword", ["stop_when_queue_empty", "stop_when_empty"])
def test_stop_when_queue_empty_from_call_command_keywords(engine, keyword):
    name = f"noop-{keyword}"
    tasks = Tasks()
    tasks.add(lambda: None, name=name)
    engine.attach_tasks(tasks)
    engine.schedule(name)

    call_command("spinach", threads=1, stdout=io.StringIO(), **{keyword: True})

    assert engine.recorder.count("job_finished", name) == 1


def test_help_lists_the_option_and_its_alias():
    result = subprocess.run(
        [sys.executable, "manage.py", "spinach", "--help"],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "--stop-when-queue-empty" in result.stdout
    assert "--stop-when-empty" in result.stdout


def test_session_cleanup_task_has_the_original_name(settings, namespace, engines):
    from spinach import MemoryBroker

    settings.SPINACH_CLEAR_SESSIONS_PERIODICITY = timedelta(days=1)
    settings.SPINACH_NAMESPACE = namespace
    settings.SPINACH_BROKER = MemoryBroker()
    engine = create_engine()
    engines.append(engine)
    task = engine.tasks["spinachd:clear_expired_sessions"]
    assert task.periodicity == timedelta(days=1)
    assert task.func.__name__ == "clear_expired_sessions"


def test_default_threads_are_the_original_default_worker_number():
    from spinach.const import DEFAULT_WORKER_NUMBER
    from spinach.contrib.spinachd.management.commands.spinach import DEFAULT_THREADS

    assert DEFAULT_THREADS == DEFAULT_WORKER_NUMBER == 5
