"""What the extension keeps for each application: its Engine and job contexts."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any, Optional

from flask import Flask, has_app_context
from flask.ctx import AppContext

from spinach import signals
from spinach.brokers.base import Broker
from spinach.engine import Engine
from spinach.job import Job

__all__ = ["EXTENSION_KEY", "AppState", "default_broker", "state_of"]

logger = logging.getLogger("spinach.contrib.flask")

#: Key of the extension's state in ``app.extensions``.
EXTENSION_KEY = "spinach"


class _JobScope:
    """The application context pushed for one job, and the error it ended with."""

    __slots__ = ("context", "error")

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.error: Optional[BaseException] = None


class AppState:
    """The Spinach state of one Flask application, in ``app.extensions['spinach']``.

    It owns the application's :class:`~spinach.engine.Engine` and listens to
    the job signals of that Engine's namespace only, to push an application
    context when a job starts and pop it when the job finishes.  All the
    signals of a job are sent from the job's own context (a fresh copy per
    job, on threaded and asyncio workers alike), so the context pushed here
    is the one the task sees, and no other job sees it.

    Receivers are connected weakly: when the application is garbage
    collected, so are they.
    """

    def __init__(self, app: Flask, engine: Engine) -> None:
        self.app = app
        self.engine = engine
        namespace = engine.namespace
        self._scope: ContextVar[Optional[_JobScope]] = ContextVar(
            f"spinach_flask_job_{namespace}", default=None
        )
        signals.job_started.connect(self._job_started, sender=namespace, weak=True)
        signals.job_schedule_retry.connect(self._job_error, sender=namespace, weak=True)
        signals.job_failed.connect(self._job_error, sender=namespace, weak=True)
        signals.job_finished.connect(self._job_finished, sender=namespace, weak=True)

    def __repr__(self) -> str:
        return f"<AppState app={self.app.name!r} namespace={self.engine.namespace!r}>"

    def _job_started(self, namespace: str, job: Job, **kwargs: Any) -> None:
        if has_app_context():
            # A job starts in a fresh context: an application context here was
            # pushed by another application listening to the same namespace.
            logger.warning(
                "Job %s %s of namespace %r already runs in an application context, "
                "probably pushed by another Flask application using the same "
                "namespace in this process; not pushing the one of %r. Give each "
                "application its own SPINACH_NAMESPACE.",
                job.task_name,
                job.id,
                namespace,
                self.app.name,
            )
            return
        context = self.app.app_context()
        context.push()
        self._scope.set(_JobScope(context))

    def _job_error(
        self, namespace: str, job: Job, err: Optional[BaseException] = None, **kwargs: Any
    ) -> None:
        # Also sent, with no job_started before it, for a job lost with a dead
        # worker or of an unknown task: then there is no scope and nothing to do.
        scope = self._scope.get()
        if scope is not None:
            scope.error = err

    def _job_finished(self, namespace: str, job: Job, **kwargs: Any) -> None:
        scope = self._scope.get()
        if scope is None:
            return
        self._scope.set(None)
        # Teardown functions get the job's error, as they get a request's.
        scope.context.pop(scope.error)


def state_of(app: Flask) -> AppState:
    """Return the Spinach state of ``app``, or raise if it was not initialised."""
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, AppState):
        raise RuntimeError(
            f"Spinach is not initialised on the Flask application {app.name!r}: "
            "call spinach.init_app(app) (or Spinach(app)) first"
        )
    return state


def default_broker() -> Broker:
    """Return the default broker, ``spinach.RedisBroker()``, imported only now.

    :raises ImportError: if spinach-redis is not installed, saying what to do.
    """
    try:
        from spinach import RedisBroker
    except ImportError as exc:
        if exc.name != "spinach.brokers.redis":
            raise
        raise ImportError(
            "SPINACH_BROKER is not set, so Spinach uses its default broker, "
            "spinach.RedisBroker(), which needs the spinach-redis distribution: "
            "pip install spinach-redis, or set SPINACH_BROKER in the application's "
            "config (e.g. to spinach.MemoryBroker() for development and tests)",
            name="spinach.brokers.redis",
        ) from exc
    broker: Broker = RedisBroker()
    return broker
