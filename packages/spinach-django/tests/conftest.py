"""Fixtures of the spinach-django tests: a real Django project on SQLite, no mocks.

The project lives in ``tests/project`` (``manage.py``, ``testproject``
settings, the ``polls`` app of the documentation); Django is set up with it
when this file is imported, which creates the project's Engine as in
production.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import django
import pytest

from spinach import Engine, MemoryBroker

PROJECT = Path(__file__).parent / "project"
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))
os.environ["DJANGO_SETTINGS_MODULE"] = "testproject.settings"
django.setup()


@pytest.fixture(scope="session", autouse=True)
def project_email_backend(django_test_environment: None) -> None:
    """Give back the project's EMAIL_BACKEND, which Django's test set-up replaces.

    Django's test environment swaps ``EMAIL_BACKEND`` for the locmem backend;
    the project's Engine, built again when a test overrides a Spinach
    setting, must see the project's own, the background backend.
    """
    from django.conf import settings
    from django.test.utils import setup_test_environment  # noqa: F401 - documents the cause
    from testproject import settings as project_settings

    settings.EMAIL_BACKEND = project_settings.EMAIL_BACKEND


@pytest.fixture
def project_engine(settings, namespace: str, engines: list[Engine]) -> Engine:
    """A new Engine made by create_engine() as Django's startup makes one.

    It has the test's namespace and its own MemoryBroker; being the last
    Engine the discovered registries are attached to, it is the one their
    ``tasks.schedule()`` uses, as in a process with one Engine.
    """
    from spinach.contrib.spinachd.engine import create_engine

    settings.SPINACH_NAMESPACE = namespace
    settings.SPINACH_BROKER = MemoryBroker()
    engine = create_engine()
    engines.append(engine)
    return engine


@pytest.fixture
def recorder_for(request: pytest.FixtureRequest) -> Iterator:
    """Return SignalRecorders (of the root conftest) for any namespace, disconnected after."""
    recorder_class = type(request.getfixturevalue("recorder"))
    made = []

    def make(namespace: str):
        rec = recorder_class(namespace)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.disconnect()
