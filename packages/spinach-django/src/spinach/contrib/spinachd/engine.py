"""Creating the Engine of a Django project from its settings and applications."""

from __future__ import annotations

import logging
from importlib import import_module
from typing import List

from django.apps import apps
from django.utils.module_loading import module_has_submodule

from spinach.brokers.base import Broker
from spinach.engine import Engine
from spinach.exc import NamespaceError
from spinach.task import Tasks

from . import conf
from .db import connect_database_hooks
from .sessions import clear_sessions_tasks
from .tasks import email_tasks

__all__ = ["TASKS_MODULE", "create_engine", "discover_tasks"]

logger = logging.getLogger("spinach.contrib.django")

#: Name of the module of each installed application holding its tasks.
TASKS_MODULE = "tasks"


def discover_tasks() -> List[Tasks]:
    """Import the ``tasks`` module of every installed application, return its registries.

    Every :class:`~spinach.task.Tasks` instance found among a module's
    globals counts, whatever its name; each registry is returned once.
    An application without a ``tasks`` module is skipped, but an error
    raised while importing an existing one propagates: a broken
    ``tasks.py`` must not go unnoticed.
    """
    found: List[Tasks] = []
    seen = set()
    for app_config in apps.get_app_configs():
        if not module_has_submodule(app_config.module, TASKS_MODULE):
            continue
        module_name = f"{app_config.name}.{TASKS_MODULE}"
        module = import_module(module_name)
        for value in vars(module).values():
            if isinstance(value, Tasks) and id(value) not in seen:
                seen.add(id(value))
                found.append(value)
                logger.debug(
                    "Found tasks %s in %s", ", ".join(sorted(value.names)) or "none", module_name
                )
    return found


def _broker_for(broker: Broker, namespace: str, provisional: bool) -> Broker:
    """``broker``, or a copy of it (same storage) where binding it would be wrong.

    A broker serves one namespace for good.  When a test overrides
    ``SPINACH_NAMESPACE`` alone, the broker of the settings still serves the
    Engine of the former one: a copy serves the new one.  A provisional
    Engine (built while settings change one by one, as pytest-django's
    ``settings`` fixture changes them) never binds the settings' broker, which
    could be bound to a namespace about to be replaced.
    """
    try:
        bound = broker.namespace
    except NamespaceError:  # not bound yet
        return broker.copy() if provisional else broker
    return broker if bound == namespace else broker.copy()


def create_engine(provisional: bool = False) -> Engine:
    """Create an Engine configured from the Django settings.

    - broker and namespace from ``SPINACH_BROKER`` and ``SPINACH_NAMESPACE``;
    - the registries of :func:`discover_tasks` are attached;
    - the periodic clean-up of expired sessions is attached if
      ``SPINACH_CLEAR_SESSIONS_PERIODICITY`` is set;
    - the ``spinachd:send_email`` task is attached only if ``EMAIL_BACKEND``
      is the background backend
      (:func:`~spinach.contrib.spinachd.conf.background_email_enabled`);
    - database connections are recycled around each job of its namespace.

    The ``spinachd`` application calls it once, when Django starts; the
    result is :func:`spinach.contrib.spinachd.get_engine`.  A ``provisional``
    Engine, built when a setting changes, works on a copy of the settings'
    broker if that one is not bound to a namespace yet (same storage, same
    jobs), and is replaced when next asked for.
    """
    periodicity = conf.clear_sessions_periodicity()  # check every setting before anything
    background_email = conf.background_email_enabled()
    namespace = conf.namespace()
    engine = Engine(_broker_for(conf.broker(), namespace, provisional), namespace=namespace)
    for tasks in discover_tasks():
        engine.attach_tasks(tasks)
    if periodicity is not None:
        engine.attach_tasks(clear_sessions_tasks(periodicity))
    if background_email:
        engine.attach_tasks(email_tasks())
    connect_database_hooks(engine)
    logger.debug("Created %r with tasks %s", engine, ", ".join(sorted(engine.tasks)))
    return engine
