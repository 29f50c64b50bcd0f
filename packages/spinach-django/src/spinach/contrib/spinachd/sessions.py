"""The periodic task clearing expired sessions, enabled by a setting.

``SPINACH_CLEAR_SESSIONS_PERIODICITY = timedelta(weeks=1)`` runs, once per
week across all workers, what ``manage.py clearsessions`` does.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from spinach.task import Tasks

__all__ = ["CLEAR_SESSIONS_TASK", "clear_expired_sessions", "clear_sessions_tasks"]

logger = logging.getLogger("spinach.contrib.django")

#: Name of the periodic task clearing expired sessions.
CLEAR_SESSIONS_TASK = "spinachd:clear_expired_sessions"


def clear_expired_sessions() -> None:
    """Remove expired sessions, as ``manage.py clearsessions`` does.

    Uses the ``SessionStore`` of ``SESSION_ENGINE``; a session engine that
    cannot clear expired sessions (e.g. signed cookies) is logged, not an
    error.
    """
    engine = import_module(settings.SESSION_ENGINE)
    try:
        engine.SessionStore.clear_expired()
    except NotImplementedError:
        logger.warning(
            "Session engine %r does not support clearing expired sessions; "
            "unset SPINACH_CLEAR_SESSIONS_PERIODICITY",
            settings.SESSION_ENGINE,
        )
        return
    logger.info("Cleared expired sessions of %s", settings.SESSION_ENGINE)


def clear_sessions_tasks(periodicity: timedelta) -> Tasks:
    """Return a registry holding :func:`clear_expired_sessions` as a periodic task.

    :raises ImproperlyConfigured: if ``django.contrib.sessions`` is not installed
    """
    if not apps.is_installed("django.contrib.sessions"):
        raise ImproperlyConfigured(
            "SPINACH_CLEAR_SESSIONS_PERIODICITY is set but django.contrib.sessions is not "
            "in INSTALLED_APPS: add it, or unset the setting"
        )
    tasks = Tasks()
    tasks.add(clear_expired_sessions, name=CLEAR_SESSIONS_TASK, periodicity=periodicity)
    return tasks
