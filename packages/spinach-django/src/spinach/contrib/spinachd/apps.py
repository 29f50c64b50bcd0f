"""The Django application: creates the project's Engine when Django starts."""

from __future__ import annotations

import logging
import threading
from typing import Any, Optional

from django.apps import AppConfig, apps
from django.core.exceptions import AppRegistryNotReady, ImproperlyConfigured
from django.core.signals import setting_changed

from spinach.engine import Engine

__all__ = ["ENGINE_SETTINGS", "SpinachdConfig"]

#: Settings whose change (``override_settings``) rebuilds the Engine.
ENGINE_SETTINGS = frozenset(
    {
        "SPINACH_BROKER",
        "SPINACH_NAMESPACE",
        "SPINACH_CLEAR_SESSIONS_PERIODICITY",
        "SPINACH_EMAIL_MAX_RETRIES",
    }
)

logger = logging.getLogger("spinach.contrib.django")

_rebuild_lock = threading.Lock()


class SpinachdConfig(AppConfig):
    """Configuration of the ``spinach.contrib.spinachd`` application.

    :meth:`ready` creates the Engine with
    :func:`spinach.contrib.spinachd.engine.create_engine`: from the settings,
    with the ``tasks.py`` registries of every installed application attached.

    When a setting of :data:`ENGINE_SETTINGS` changes (Django's
    ``override_settings``, pytest-django's ``settings`` fixture), the Engine
    is built again from the new settings at once (its ``tasks.py``
    registries then schedule on it), and again when the override ends: a
    test can give the project a broker or a namespace of its own.  The replaced
    Engine's workers are not stopped: stop them before changing settings.
    """

    name = "spinach.contrib.spinachd"
    label = "spinachd"
    verbose_name = "Spinach"

    _engine: Optional[Engine] = None
    _stale = False

    def ready(self) -> None:
        """Create the project's Engine once the application registry is ready."""
        from .engine import create_engine

        self._engine = create_engine()
        setting_changed.connect(self._setting_changed, weak=False, dispatch_uid="spinachd-engine")

    def _setting_changed(self, setting: str, **kwargs: Any) -> None:
        if setting not in ENGINE_SETTINGS or self._engine is None:
            return
        from .engine import create_engine

        logger.debug("%s changed: the project's Engine is built again", setting)
        with _rebuild_lock:
            self._stale = True
            # At once: the tasks.py registries schedule on the last Engine they
            # were attached to, which must be the new one from now on, not the
            # one of the settings the override replaced (or restored).
            try:
                engine = create_engine(provisional=True)
            except Exception as exc:
                # Settings may be changed one by one: this may be a state
                # half-way. Built again when next used, where an error that
                # remains reaches the caller.
                logger.debug("Engine not built yet after %s changed: %r", setting, exc)
                return
            self._engine = engine
            # Final unless it works on a copy of the settings' broker (see
            # create_engine): then the next use binds the broker itself.
            from django.conf import settings

            self._stale = engine.broker is not getattr(settings, "SPINACH_BROKER", engine.broker)

    @property
    def engine(self) -> Engine:
        """The project's Engine.

        :raises ImproperlyConfigured: if Django did not call :meth:`ready` yet
        """
        if self._stale:
            from .engine import create_engine

            with _rebuild_lock:
                if self._stale:
                    self._engine = create_engine()
                    self._stale = False
        if self._engine is None:
            raise ImproperlyConfigured(
                "the Spinach Engine is created when Django is set up: call django.setup() "
                "first (manage.py and WSGI/ASGI handlers do)"
            )
        return self._engine

    @classmethod
    def get(cls) -> SpinachdConfig:
        """Return the installed instance of this application.

        :raises ImproperlyConfigured: if ``spinach.contrib.spinachd`` is not in
            ``INSTALLED_APPS``, or Django is not set up yet
        """
        try:
            config = apps.get_app_config(cls.label)
        except AppRegistryNotReady:
            raise ImproperlyConfigured(
                "the Spinach Engine is created when Django is set up: call django.setup() "
                "first (manage.py and WSGI/ASGI handlers do)"
            ) from None
        except LookupError:
            raise ImproperlyConfigured(
                "add 'spinach.contrib.spinachd' to INSTALLED_APPS to use Spinach with Django"
            ) from None
        if not isinstance(config, cls):
            raise ImproperlyConfigured(
                f"the application labelled {cls.label!r} is not Spinach's: {config!r}"
            )
        return config
