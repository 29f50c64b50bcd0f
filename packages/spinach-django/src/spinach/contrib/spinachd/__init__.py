"""Spinach for Django.

Add the application to ``settings.py``::

    INSTALLED_APPS = (
        ...
        'spinach.contrib.spinachd',
    )

On startup it creates the project's :class:`~spinach.engine.Engine` from
``SPINACH_BROKER`` (default ``spinach.RedisBroker()``) and
``SPINACH_NAMESPACE`` (default ``'spinach'``), and attaches to it the
:class:`~spinach.task.Tasks` registries defined in the ``tasks.py`` module of
every installed application.  ``python manage.py spinach`` starts workers,
:class:`~spinach.contrib.spinachd.mail.BackgroundEmailBackend` sends emails
from jobs, and ``SPINACH_CLEAR_SESSIONS_PERIODICITY`` enables a periodic
clean-up of expired sessions.  Database connections are recycled around
every job, as Django does around every request.

Importing this package has no side effect: the Engine is created when
Django's application registry is ready.  As in the original spinach,
``from spinach.contrib.spinachd import spin`` gives that Engine (once Django
is set up); :func:`get_engine` is the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from spinach.engine import Engine

    #: The project's Engine, the name of the original spinach: see get_engine().
    spin: Engine

# Not "spin": a star import must not need Django to be set up.
__all__ = ["__version__", "get_engine"]


def get_engine() -> Engine:
    """Return the project's Engine, created when Django started.

    :raises django.core.exceptions.ImproperlyConfigured: if
        ``spinach.contrib.spinachd`` is not in ``INSTALLED_APPS`` or Django
        is not set up yet
    """
    from .apps import SpinachdConfig

    return SpinachdConfig.get().engine


def __getattr__(name: str) -> Any:
    # ``spin`` is looked up when it is used, so that importing this package
    # stays free of side effects and works before Django is set up.
    if name == "spin":
        return get_engine()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
