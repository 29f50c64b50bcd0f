"""SPINACH_CLEAR_SESSIONS_PERIODICITY: a periodic task clearing expired sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured

from spinach.contrib.spinachd.engine import create_engine
from spinach.contrib.spinachd.sessions import CLEAR_SESSIONS_TASK
from spinach.job import JobStatus


def make_session(expires_in: timedelta) -> str:
    store = SessionStore()
    store["user"] = "someone"
    store.set_expiry(expires_in)
    store.save()
    return store.session_key


def test_disabled_by_default(project_engine, settings):
    assert not hasattr(settings, "SPINACH_CLEAR_SESSIONS_PERIODICITY")
    assert CLEAR_SESSIONS_TASK not in project_engine.tasks


@pytest.mark.django_db(transaction=True)
def test_periodic_task_clears_expired_sessions(settings, namespace, engines, recorder):
    from spinach import MemoryBroker

    settings.SPINACH_CLEAR_SESSIONS_PERIODICITY = timedelta(weeks=1)
    settings.SPINACH_NAMESPACE = namespace
    settings.SPINACH_BROKER = MemoryBroker()
    engine = create_engine()
    engines.append(engine)
    task = engine.tasks[CLEAR_SESSIONS_TASK]
    assert task.periodicity == timedelta(weeks=1)

    expired = [make_session(timedelta(seconds=-60)) for _ in range(3)]
    valid = make_session(timedelta(hours=1))
    assert Session.objects.count() == 4

    # A periodic task is first due when the workers start.
    engine.start_workers(number=1, block=False)
    recorder.wait_count("job_finished", 1, CLEAR_SESSIONS_TASK)
    engine.stop_workers()

    assert recorder.jobs("job_finished", CLEAR_SESSIONS_TASK)[0].status is JobStatus.SUCCEEDED
    assert list(Session.objects.values_list("session_key", flat=True)) == [valid]
    assert not set(expired) & set(Session.objects.values_list("session_key", flat=True))


def test_needs_django_contrib_sessions(settings):
    settings.SPINACH_CLEAR_SESSIONS_PERIODICITY = timedelta(days=1)
    settings.INSTALLED_APPS = ["django.contrib.contenttypes", "polls"]
    with pytest.raises(ImproperlyConfigured, match=r"django\.contrib\.sessions"):
        create_engine()


def test_session_engine_without_clear_expired_is_logged(settings, caplog):
    from spinach.contrib.spinachd.sessions import clear_expired_sessions

    settings.SESSION_ENGINE = "testproject.session_engine"
    clear_expired_sessions()
    assert "does not support clearing expired sessions" in caplog.text
