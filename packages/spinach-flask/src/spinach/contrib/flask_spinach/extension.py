"""The :class:`Spinach` Flask extension."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Callable, List, Optional

from flask import Flask, current_app, has_app_context

from spinach.engine import Engine
from spinach.job import Job
from spinach.task import Batch, TaskRef, Tasks

from ._state import (
    EXTENSION_KEY,
    AppState,
    broker_from_config,
    default_namespace,
    state_of,
)
from .cli import spinach_command

__all__ = ["Spinach"]

logger = logging.getLogger("spinach.contrib.flask")


class Spinach:
    """Flask extension integrating Spinach into an application.

    ``Spinach(app)`` initialises the extension for one application at once;
    ``Spinach()`` followed by :meth:`init_app` suits application factories.
    Each initialised application gets its own :class:`~spinach.engine.Engine`,
    configured from the application's config:

    - ``SPINACH_BROKER``: a broker instance or a Redis URL
      (``RedisBroker.from_url``), default ``spinach.RedisBroker()``
      (created only when the setting is missing; it needs spinach-redis);
    - ``SPINACH_NAMESPACE``: the Engine's namespace, default the dotted
      name of the app's module, the same however the app is started (see
      :func:`~spinach.contrib.flask_spinach._state.default_namespace`).

    Applications of one process may share a namespace: each job runs in
    the context of the application whose workers fetched it.

    Jobs run inside an application context of their application, so tasks
    can use ``current_app`` and extensions bound to it.  The ``flask
    spinach`` command starts workers.  Tasks registered with :meth:`task`
    are attached to every application initialised with this extension.

    :arg app: the application to initialise, if any
    """

    def __init__(self, app: Optional[Flask] = None) -> None:
        #: The application given to the constructor, used outside of an
        #: application context; None with the application factory pattern.
        self.app = app
        self._tasks = Tasks()
        if app is not None:
            self.init_app(app)

    def __repr__(self) -> str:
        return f"<Spinach app={self.app.name if self.app else None!r}>"

    def init_app(self, app: Flask) -> None:
        """Create the Engine of ``app`` and register the ``flask spinach`` command.

        :raises RuntimeError: if the extension is already initialised on ``app``
        :raises TypeError: if ``SPINACH_BROKER`` is not a broker or a str
        :raises ValueError: if ``SPINACH_BROKER`` is a str but not a Redis URL
        :raises ImportError: if ``SPINACH_BROKER`` is not set and spinach-redis,
            which provides the default broker, is not installed
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                f"Spinach is already initialised on the Flask application {app.name!r}"
            )
        namespace = app.config.get("SPINACH_NAMESPACE")
        if namespace is None:
            namespace = default_namespace(app)
        broker = broker_from_config(app.config.get("SPINACH_BROKER"))
        engine = Engine(broker, namespace=namespace)
        engine.attach_tasks(self._tasks)
        app.extensions[EXTENSION_KEY] = AppState(app, engine)
        app.cli.add_command(spinach_command)
        logger.debug("Spinach initialised on application %r: %r", app.name, engine)

    # -- tasks ----------------------------------------------------------

    def task(
        self,
        func: Optional[Callable[..., Any]] = None,
        name: Optional[str] = None,
        queue: Optional[str] = None,
        max_retries: Optional[int] = None,
        periodicity: Optional[timedelta] = None,
        max_concurrency: Optional[int] = None,
    ) -> Any:
        """Decorator registering a task on every application of the extension.

        Takes the options of :meth:`spinach.task.Tasks.task`; ``name`` is
        required.  The function is returned unchanged.

        >>> @spinach.task(name='say_hello')
        ... def say_hello():
        ...     print('Hello from a task')
        """
        return self._tasks.task(
            func,
            name=name,
            queue=queue,
            max_retries=max_retries,
            periodicity=periodicity,
            max_concurrency=max_concurrency,
        )

    def register_tasks(self, app: Flask, tasks: Tasks) -> None:
        """Attach a :class:`~spinach.task.Tasks` registry to the Engine of ``app``.

        :raises RuntimeError: if the extension is not initialised on ``app``
        """
        state_of(app).engine.attach_tasks(tasks)

    # -- engines --------------------------------------------------------

    def get_engine(self, app: Optional[Flask] = None) -> Engine:
        """Return the Engine of ``app``, by default of the current application.

        Outside of an application context, the application given to the
        constructor is used, if any.

        :raises RuntimeError: if there is no application to use, or the
            extension is not initialised on it
        """
        if app is None:
            if has_app_context():
                app = current_app._get_current_object()  # type: ignore[attr-defined]
            elif self.app is not None:
                app = self.app
            else:
                raise RuntimeError(
                    "Spinach needs an application: work inside an application context "
                    "(e.g. `with app.app_context():`), or pass the application explicitly"
                )
        assert app is not None
        return state_of(app).engine

    @property
    def engine(self) -> Engine:
        """Engine of the current application; see :meth:`get_engine`.

        Useful to start workers embedded in a process, e.g. in tests:
        ``spinach.engine.start_workers(stop_when_queue_empty=True)``.
        """
        return self.get_engine()

    @property
    def spin(self) -> Engine:
        """Engine of the current application, as the original ``spinach`` 0.0.x named it.

        Unlike :attr:`engine`, it needs an application context: it never
        falls back on the application given to the constructor.

        :raises RuntimeError: outside of an application context, or if the
            extension is not initialised on the current application
        """
        if not has_app_context():
            raise RuntimeError(
                "Spinach.spin is the Engine of the current application: use it inside an "
                "application context (e.g. `with app.app_context():`), or use "
                "get_engine(app)"
            )
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        return state_of(app).engine

    # -- scheduling -----------------------------------------------------

    def schedule(self, task: TaskRef, *args: Any, **kwargs: Any) -> Job:
        """Schedule a job on the current application's Engine, to run as soon as possible.

        :arg task: the task or its name to execute in the background
        :arg args: args to be passed to the task function
        :arg kwargs: kwargs to be passed to the task function
        :return: the Job that was created and scheduled
        """
        return self.get_engine().schedule(task, *args, **kwargs)

    def schedule_at(self, task: TaskRef, at: datetime, *args: Any, **kwargs: Any) -> Job:
        """Schedule a job on the current application's Engine, to run in the future.

        :arg task: the task or its name to execute in the background
        :arg at: date at which the job should start; a naive datetime is
            taken as UTC
        :arg args: args to be passed to the task function
        :arg kwargs: kwargs to be passed to the task function
        :return: the Job that was created and scheduled
        """
        return self.get_engine().schedule_at(task, at, *args, **kwargs)

    def schedule_batch(self, batch: Batch) -> List[Job]:
        """Schedule a batch of jobs at once on the current application's Engine.

        :arg batch: :class:`~spinach.task.Batch` of jobs, all or none of which
            are scheduled
        :return: the Jobs that were created and scheduled
        """
        return self.get_engine().schedule_batch(batch)

    async def aschedule(self, task: TaskRef, *args: Any, **kwargs: Any) -> Job:
        """Schedule a job from an async view without blocking the event loop.

        :meth:`spinach.engine.Engine.aschedule` on the current application's
        Engine: the broker call runs in the loop's executor.
        """
        return await self.get_engine().aschedule(task, *args, **kwargs)

    async def aschedule_at(self, task: TaskRef, at: datetime, *args: Any, **kwargs: Any) -> Job:
        """Schedule a job to run at ``at`` from async code, without blocking the loop."""
        return await self.get_engine().aschedule_at(task, at, *args, **kwargs)

    async def aschedule_batch(self, batch: Batch) -> List[Job]:
        """Schedule a batch of jobs from async code, without blocking the loop."""
        return await self.get_engine().aschedule_batch(batch)

    def execute(self, task: TaskRef, *args: Any, **kwargs: Any) -> Any:
        """Run a task now, in the caller, with the current application's Engine.

        See :meth:`spinach.engine.Engine.execute`: the arguments are checked
        as for :meth:`schedule`, nothing goes through the broker and the
        task's exceptions propagate.  Like a job, the task runs inside an
        application context of its application: the current one, or one
        pushed for the call.

        :arg task: the task or its name
        :arg args: args to be passed to the task function
        :arg kwargs: kwargs to be passed to the task function
        :return: what the task function returned
        """
        engine = self.get_engine()
        if has_app_context():
            return engine.execute(task, *args, **kwargs)
        assert self.app is not None  # get_engine() found no application otherwise
        with self.app.app_context():
            return engine.execute(task, *args, **kwargs)
