"""The Django app: Engine created at startup, tasks.py discovery, settings."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import spinach as spinach_package
from spinach import MemoryBroker
from spinach.contrib.spinachd import __version__, get_engine
from spinach.contrib.spinachd.apps import SpinachdConfig
from spinach.contrib.spinachd.engine import create_engine, discover_tasks
from spinach.job import JobStatus


def test_version_is_the_distributions():
    from importlib.metadata import version

    assert __version__ == version("spinach-django")


def test_engine_created_at_startup_from_settings(settings):
    engine = get_engine()
    assert engine.namespace == "spinachd-tests"
    assert engine.broker is settings.SPINACH_BROKER
    assert isinstance(apps.get_app_config("spinachd"), SpinachdConfig)
    assert get_engine() is engine


def test_tasks_of_every_installed_app_are_attached():
    names = set(get_engine().tasks)
    assert {"polls:close_poll", "shop:ship", "shop:monthly_report", "spinachd:send_email"} <= names
    assert get_engine().tasks["shop:monthly_report"].queue == "reports"


def test_discovery_finds_every_registry_once():
    from polls.tasks import tasks as polls_tasks
    from shop.tasks import orders, reports

    found = discover_tasks()
    assert len(found) == len({id(t) for t in found})
    # INSTALLED_APPS order, then the order of each module's globals: shop/tasks.py
    # imports polls' registry first, and spinachd's own tasks.py defines none
    # (its email task is attached by create_engine, see test_django_mail_relay.py).
    assert found == [polls_tasks, orders, reports]


def test_broken_tasks_module_is_not_hidden():
    with (
        override_settings(INSTALLED_APPS=["django.contrib.contenttypes", "brokenapp", "polls"]),
        pytest.raises(ModuleNotFoundError, match="a_module_that_does_not_exist"),
    ):
        discover_tasks()


def test_get_engine_without_the_app_says_what_to_do():
    with (
        override_settings(INSTALLED_APPS=["django.contrib.contenttypes"]),
        pytest.raises(
            ImproperlyConfigured, match=r"add 'spinach\.contrib\.spinachd' to INSTALLED_APPS"
        ),
    ):
        get_engine()


def test_namespace_defaults_to_spinach(settings):
    del settings.SPINACH_NAMESPACE
    settings.SPINACH_BROKER = MemoryBroker()
    assert create_engine().namespace == "spinach"


class _HideRedis:
    def find_spec(self, name, path=None, target=None):
        if name == "spinach.brokers.redis":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def test_default_broker_without_spinach_redis_says_what_to_do(settings, monkeypatch):
    del settings.SPINACH_BROKER
    monkeypatch.delitem(sys.modules, "spinach.brokers.redis", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_HideRedis(), *sys.meta_path])
    with pytest.raises(ImproperlyConfigured) as info:
        create_engine()
    assert "pip install spinach-redis" in str(info.value)
    assert "SPINACH_BROKER" in str(info.value)


def test_default_broker_is_a_redis_broker(settings, monkeypatch, namespace):
    class StandInRedisBroker(MemoryBroker):
        """Stands for spinach-redis's RedisBroker, not installed in this environment."""

    module = types.ModuleType("spinach.brokers.redis")
    module.RedisBroker = StandInRedisBroker
    monkeypatch.setitem(sys.modules, "spinach.brokers.redis", module)
    assert spinach_package.RedisBroker is StandInRedisBroker
    del settings.SPINACH_BROKER
    settings.SPINACH_NAMESPACE = namespace
    assert type(create_engine().broker) is StandInRedisBroker


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SPINACH_BROKER", "redis://localhost", "SPINACH_BROKER must be a broker instance"),
        ("SPINACH_NAMESPACE", 42, "SPINACH_NAMESPACE must be a str"),
        ("SPINACH_CLEAR_SESSIONS_PERIODICITY", 3600, "must be a positive datetime.timedelta"),
    ],
)
def test_invalid_settings_are_refused(settings, name, value, message):
    setattr(settings, name, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        create_engine()


def test_importing_the_app_creates_no_engine_and_no_thread():
    code = (
        "import gc, threading\n"
        "before = threading.active_count()\n"
        "import spinach.contrib.spinachd, spinach.contrib.spinachd.apps\n"
        "from spinach.engine import Engine\n"
        "print(threading.active_count() - before,"
        " sum(isinstance(o, Engine) for o in gc.get_objects()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"]


@pytest.mark.django_db(transaction=True)
def test_documentation_view_schedules_the_poll_closing(client, project_engine, recorder):
    from polls.models import Question

    question = Question.objects.create(question_text="Spinach?")

    response = client.get(f"/polls/{question.id}/close/")

    assert response.status_code == 200
    assert Question.objects.filter(pk=question.id).exists()  # not closed by the request
    project_engine.start_workers(number=2, stop_when_queue_empty=True)
    assert [j.status for j in recorder.jobs("job_finished", "polls:close_poll")] == [
        JobStatus.SUCCEEDED
    ]
    assert not Question.objects.filter(pk=question.id).exists()


@pytest.mark.django_db(transaction=True)
def test_view_of_a_missing_question_schedules_nothing(client, project_engine):
    assert client.get("/polls/404/close/").status_code == 404
    assert project_engine.broker.queue_length("spinach") == 0
