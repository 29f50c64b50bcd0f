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

:func:`schedule_on_commit` and :func:`schedule_batch_on_commit` (from
:mod:`spinach.contrib.spinachd.transaction`) enqueue jobs when the
surrounding transaction commits; :func:`aschedule`,
:func:`aschedule_at` and :func:`aschedule_batch` schedule from async views
without blocking the event loop.

Changing ``SPINACH_BROKER`` or ``SPINACH_NAMESPACE`` with Django's
``override_settings`` (or pytest-django's ``settings`` fixture) rebuilds
the Engine, so that a test can use a broker of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, List

from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from spinach.engine import Engine
    from spinach.job import Job
    from spinach.task import Batch, TaskRef

    #: The project's Engine, the name of the original spinach: see get_engine().
    spin: Engine

# Not "spin": a star import must not need Django to be set up.
__all__ = [
    "__version__",
    "aschedule",
    "aschedule_at",
    "aschedule_batch",
    "get_engine",
    "schedule_batch_on_commit",
    "schedule_on_commit",
]


def get_engine() -> Engine:
    """Return the project's Engine, created when Django started.

    :raises django.core.exceptions.ImproperlyConfigured: if
        ``spinach.contrib.spinachd`` is not in ``INSTALLED_APPS`` or Django
        is not set up yet
    """
    from .apps import SpinachdConfig

    return SpinachdConfig.get().engine


async def aschedule(task: TaskRef, *args: Any, **kwargs: Any) -> Job:
    """Schedule a job from async code (an async view) without blocking the event loop.

    :meth:`spinach.engine.Engine.aschedule` on the project's Engine: the
    broker call runs in the loop's executor.
    """
    return await get_engine().aschedule(task, *args, **kwargs)


async def aschedule_at(task: TaskRef, at: datetime, *args: Any, **kwargs: Any) -> Job:
    """Schedule a job to run at ``at`` from async code, without blocking the event loop."""
    return await get_engine().aschedule_at(task, at, *args, **kwargs)


async def aschedule_batch(batch: Batch) -> List[Job]:
    """Schedule a batch of jobs from async code, without blocking the event loop."""
    return await get_engine().aschedule_batch(batch)


def schedule_on_commit(task: TaskRef, *args: Any, **kwargs: Any) -> None:
    """See :func:`spinach.contrib.spinachd.transaction.schedule_on_commit`."""
    from .transaction import schedule_on_commit as schedule

    schedule(task, *args, **kwargs)


def schedule_batch_on_commit(batch: Batch, using: str | None = None) -> None:
    """See :func:`spinach.contrib.spinachd.transaction.schedule_batch_on_commit`."""
    from .transaction import schedule_batch_on_commit as schedule

    schedule(batch, using=using)


def __getattr__(name: str) -> Any:
    # ``spin`` is looked up when it is used, so that importing this package
    # stays free of side effects and works before Django is set up.
    if name == "spin":
        return get_engine()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
