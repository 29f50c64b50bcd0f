"""The Django settings of Spinach and their defaults.

- ``SPINACH_BROKER``: a broker instance, default ``spinach.RedisBroker()``,
  created only when the setting is missing;
- ``SPINACH_NAMESPACE``: default ``'spinach'``;
- ``SPINACH_ACTUAL_EMAIL_BACKEND``: the backend that
  :class:`~spinach.contrib.spinachd.mail.BackgroundEmailBackend` hands
  emails to, in the worker; default
  ``'django.core.mail.backends.smtp.EmailBackend'``;
- ``SPINACH_EMAIL_ON_COMMIT``: when the background backend enqueues emails
  sent inside a transaction: ``True`` (default) when the transaction of the
  default database commits, never on rollback; a database alias for that
  database's transaction; ``False`` at once;
- ``SPINACH_EMAIL_MAX_RETRIES``: how many times an email failing with a
  temporary error is retried, default 10;
- ``SPINACH_EMAIL_RETRY_BACKOFF``: a callable taking the number of retries
  done and returning the ``timedelta`` to wait before the next one; default
  :func:`default_email_backoff` (30 s doubling up to 1 hour: about 4 hours
  over the default 10 retries);
- ``SPINACH_CLEAR_SESSIONS_PERIODICITY``: a ``timedelta``, default ``None``
  (the periodic clean-up of expired sessions is disabled).

Django's own ``EMAIL_BACKEND`` decides whether the project sends emails from
jobs at all (:func:`background_email_enabled`).

Settings are read when they are needed, never at import time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Callable, Optional

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS
from django.utils.module_loading import import_string

from spinach.brokers.base import Broker

__all__ = [
    "DEFAULT_ACTUAL_EMAIL_BACKEND",
    "DEFAULT_EMAIL_MAX_RETRIES",
    "DEFAULT_NAMESPACE",
    "actual_email_backend",
    "background_email_enabled",
    "broker",
    "clear_sessions_periodicity",
    "default_email_backoff",
    "email_max_retries",
    "email_on_commit",
    "email_retry_backoff",
    "namespace",
]

#: Namespace of the Engine when ``SPINACH_NAMESPACE`` is not set.
DEFAULT_NAMESPACE = "spinach"

#: Backend sending the emails when ``SPINACH_ACTUAL_EMAIL_BACKEND`` is not set.
DEFAULT_ACTUAL_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

#: Retries of an email failing with a temporary error, without ``SPINACH_EMAIL_MAX_RETRIES``.
DEFAULT_EMAIL_MAX_RETRIES = 10

_BACKGROUND_BACKEND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"


def broker() -> Broker:
    """Return ``SPINACH_BROKER``, or a new ``spinach.RedisBroker()`` if it is not set.

    :raises ImproperlyConfigured: if the setting is not a broker, or if it is
        not set and spinach-redis, which provides the default, is missing
    """
    value = getattr(settings, "SPINACH_BROKER", None)
    if value is None:
        try:
            from spinach import RedisBroker
        except ImportError as exc:
            if exc.name != "spinach.brokers.redis":
                raise
            raise ImproperlyConfigured(
                "SPINACH_BROKER is not set, so Spinach uses its default broker, "
                "spinach.RedisBroker(), which needs the spinach-redis distribution: "
                "pip install spinach-redis, or set SPINACH_BROKER in your settings "
                "(e.g. to spinach.MemoryBroker() for development and tests)"
            ) from exc
        default: Broker = RedisBroker()
        return default
    if not isinstance(value, Broker):
        # Never the value itself: a Redis URL given by mistake holds a password.
        raise ImproperlyConfigured(
            "SPINACH_BROKER must be a broker instance such as spinach.RedisBroker() "
            f"(spinach.RedisBroker.from_url(url) for a URL) or spinach.MemoryBroker(), "
            f"not a {type(value).__name__}"
        )
    return value


def namespace() -> str:
    """Return ``SPINACH_NAMESPACE``, default ``'spinach'``."""
    value = getattr(settings, "SPINACH_NAMESPACE", DEFAULT_NAMESPACE)
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"SPINACH_NAMESPACE must be a str, not {value!r}")
    return value


def actual_email_backend() -> str:
    """Return the dotted path of ``SPINACH_ACTUAL_EMAIL_BACKEND``.

    :raises ImproperlyConfigured: if it is the background backend itself,
        which would send every email back to the queue for ever
    """
    value = getattr(settings, "SPINACH_ACTUAL_EMAIL_BACKEND", DEFAULT_ACTUAL_EMAIL_BACKEND)
    if not isinstance(value, str) or not value:
        raise ImproperlyConfigured(
            f"SPINACH_ACTUAL_EMAIL_BACKEND must be the dotted path of an email backend, "
            f"not {value!r}"
        )
    if value == _BACKGROUND_BACKEND:
        raise ImproperlyConfigured(
            "SPINACH_ACTUAL_EMAIL_BACKEND cannot be the BackgroundEmailBackend itself: "
            "set it to the backend that really sends emails, e.g. "
            f"{DEFAULT_ACTUAL_EMAIL_BACKEND!r}"
        )
    return value


def clear_sessions_periodicity() -> Optional[timedelta]:
    """Return ``SPINACH_CLEAR_SESSIONS_PERIODICITY``, default ``None`` (disabled)."""
    value = getattr(settings, "SPINACH_CLEAR_SESSIONS_PERIODICITY", None)
    if value is None:
        return None
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ImproperlyConfigured(
            "SPINACH_CLEAR_SESSIONS_PERIODICITY must be a positive datetime.timedelta "
            f"(e.g. timedelta(weeks=1)) or None, not {value!r}"
        )
    return value


def background_email_enabled() -> bool:
    """Whether ``EMAIL_BACKEND`` is Spinach's background backend (or a subclass of it).

    Only then does the project have the ``spinachd:send_email`` task: a
    worker of a project that sends its emails otherwise must not send the
    emails that whoever can push jobs to its queues asks it to, through the
    project's own (authenticated) SMTP account.  A path that cannot be
    imported is not the background backend.
    """
    value = getattr(settings, "EMAIL_BACKEND", None)
    if value == _BACKGROUND_BACKEND:
        return True
    if not isinstance(value, str):
        return False
    try:
        backend = import_string(value)
    except ImportError:
        return False
    from .mail import BackgroundEmailBackend

    return isinstance(backend, type) and issubclass(backend, BackgroundEmailBackend)


def email_on_commit() -> Optional[str]:
    """Return the database alias whose commit enqueues emails, or None to enqueue at once.

    From ``SPINACH_EMAIL_ON_COMMIT``: ``True`` (default) is the default
    database, a str names a database of ``DATABASES``, ``False`` disables.
    """
    value = getattr(settings, "SPINACH_EMAIL_ON_COMMIT", True)
    if value is True:
        return str(DEFAULT_DB_ALIAS)
    if value is False:
        return None
    if isinstance(value, str) and value in settings.DATABASES:
        return value
    raise ImproperlyConfigured(
        "SPINACH_EMAIL_ON_COMMIT must be True, False or the alias of a database of "
        f"DATABASES, not {value!r}"
    )


def email_max_retries() -> int:
    """Return ``SPINACH_EMAIL_MAX_RETRIES``, default :data:`DEFAULT_EMAIL_MAX_RETRIES`."""
    value = getattr(settings, "SPINACH_EMAIL_MAX_RETRIES", DEFAULT_EMAIL_MAX_RETRIES)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(
            f"SPINACH_EMAIL_MAX_RETRIES must be an int of 0 or more, not {value!r}"
        )
    return value


def default_email_backoff(retries: int) -> timedelta:
    """Wait 30 s before the first retry, doubling each time, at most 1 hour."""
    return timedelta(seconds=min(30 * 2**retries, 3600))


def email_retry_backoff() -> Callable[[int], timedelta]:
    """Return ``SPINACH_EMAIL_RETRY_BACKOFF``, default :func:`default_email_backoff`."""
    value = getattr(settings, "SPINACH_EMAIL_RETRY_BACKOFF", default_email_backoff)
    if not callable(value):
        raise ImproperlyConfigured(
            "SPINACH_EMAIL_RETRY_BACKOFF must be a callable taking the number of retries "
            f"done and returning a datetime.timedelta, not {value!r}"
        )
    return value
