"""The Django settings of Spinach and their defaults.

- ``SPINACH_BROKER``: a broker instance, default ``spinach.RedisBroker()``,
  created only when the setting is missing;
- ``SPINACH_NAMESPACE``: default ``'spinach'``;
- ``SPINACH_ACTUAL_EMAIL_BACKEND``: the backend that
  :class:`~spinach.contrib.spinachd.mail.BackgroundEmailBackend` hands
  emails to, in the worker; default
  ``'django.core.mail.backends.smtp.EmailBackend'``;
- ``SPINACH_CLEAR_SESSIONS_PERIODICITY``: a ``timedelta``, default ``None``
  (the periodic clean-up of expired sessions is disabled).

Django's own ``EMAIL_BACKEND`` decides whether the project sends emails from
jobs at all (:func:`background_email_enabled`).

Settings are read when they are needed, never at import time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Optional

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from spinach.brokers.base import Broker

__all__ = [
    "DEFAULT_ACTUAL_EMAIL_BACKEND",
    "DEFAULT_NAMESPACE",
    "actual_email_backend",
    "background_email_enabled",
    "broker",
    "clear_sessions_periodicity",
    "namespace",
]

#: Namespace of the Engine when ``SPINACH_NAMESPACE`` is not set.
DEFAULT_NAMESPACE = "spinach"

#: Backend sending the emails when ``SPINACH_ACTUAL_EMAIL_BACKEND`` is not set.
DEFAULT_ACTUAL_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

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
        raise ImproperlyConfigured(
            "SPINACH_BROKER must be a broker instance such as spinach.RedisBroker() "
            f"or spinach.MemoryBroker(), not {value!r}"
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
