"""The Django application: creates the project's Engine when Django starts."""

from __future__ import annotations

import logging
from typing import Optional

from django.apps import AppConfig, apps
from django.core.exceptions import AppRegistryNotReady, ImproperlyConfigured

from spinach.engine import Engine

__all__ = ["SpinachdConfig"]

logger = logging.getLogger("spinach.contrib.django")


class SpinachdConfig(AppConfig):
    """Configuration of the ``spinach.contrib.spinachd`` application.

    :meth:`ready` creates the Engine with
    :func:`spinach.contrib.spinachd.engine.create_engine`: from the settings,
    with the ``tasks.py`` registries of every installed application attached.
    """

    name = "spinach.contrib.spinachd"
    label = "spinachd"
    verbose_name = "Spinach"

    _engine: Optional[Engine] = None

    def ready(self) -> None:
        """Create the project's Engine once the application registry is ready."""
        from .engine import create_engine

        self._engine = create_engine()

    @property
    def engine(self) -> Engine:
        """The project's Engine.

        :raises ImproperlyConfigured: if Django did not call :meth:`ready` yet
        """
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
