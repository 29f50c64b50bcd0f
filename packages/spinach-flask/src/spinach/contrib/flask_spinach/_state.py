"""What the extension keeps for each application: its Engine and job contexts."""

from __future__ import annotations

import logging
import os
import sys
from contextvars import ContextVar
from typing import Any, Optional

from flask import Flask, has_app_context
from flask.ctx import AppContext

from spinach import signals
from spinach.brokers.base import Broker
from spinach.engine import Engine
from spinach.exc import JobCancelledError
from spinach.job import Job, JobStatus

__all__ = [
    "EXTENSION_KEY",
    "AppState",
    "broker_from_config",
    "default_broker",
    "default_namespace",
    "state_of",
]

logger = logging.getLogger("spinach.contrib.flask")

#: Key of the extension's state in ``app.extensions``.
EXTENSION_KEY = "spinach"


def default_namespace(app: Flask) -> str:
    """The namespace of ``app`` without ``SPINACH_NAMESPACE``: its module's dotted name.

    ``Flask(__name__)`` names an application after its module, which is
    ``__main__`` when it runs with ``python -m pkg.app`` or ``python
    pkg/app.py`` while ``flask --app pkg.app`` imports it as ``pkg.app``.
    The module's real name is used in every case (``__main__.__spec__``, or
    the file's path within its packages, as ``flask --app`` finds it), so
    that the web process and ``flask spinach`` agree.
    """
    name = app.import_name
    if name != "__main__":
        return name
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return str(spec.name[: -len(".__main__")] if spec.name.endswith(".__main__") else spec.name)
    path = getattr(main, "__file__", None)
    if not path:
        return app.name
    path = os.path.realpath(path)
    module, _ = os.path.splitext(os.path.basename(path))
    parts = [] if module == "__init__" else [module]
    directory = os.path.dirname(path)
    while os.path.exists(os.path.join(directory, "__init__.py")):
        parts.insert(0, os.path.basename(directory))
        directory = os.path.dirname(directory)
    return ".".join(parts) or app.name


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

    Applications of one process may share a namespace: only the application
    whose Engine runs a job (:attr:`spinach.job.Job.engine`) pushes its
    context.

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
        if job.engine is not self.engine:
            return  # run by the Engine of another application on this namespace
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
        # Teardown functions get the job's error, as they get a request's. A
        # cancelled job sends no error signal, yet its work must not be kept
        # as a success would be (a teardown committing a session).
        error = scope.error
        if error is None and job.status is JobStatus.CANCELLED:
            error = JobCancelledError(f"job {job.id} of task {job.task_name!r} was cancelled")
        scope.context.pop(error)


def state_of(app: Flask) -> AppState:
    """Return the Spinach state of ``app``, or raise if it was not initialised."""
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, AppState):
        raise RuntimeError(
            f"Spinach is not initialised on the Flask application {app.name!r}: "
            "call spinach.init_app(app) (or Spinach(app)) first"
        )
    return state


_URL_SCHEMES = ("redis://", "rediss://", "unix://")


def broker_from_config(value: Any) -> Broker:
    """Return the broker of ``SPINACH_BROKER``: an instance, a Redis URL, or None (default).

    :raises TypeError: if it is neither a broker, a str nor None
    :raises ValueError: if it is a str that is not a Redis URL
    """
    if value is None:
        return default_broker()
    if isinstance(value, Broker):
        return value
    if isinstance(value, str):
        if not value.startswith(_URL_SCHEMES):
            # Never the value itself: a mistyped URL still holds its password.
            scheme = value.split("://", 1)[0] if "://" in value else ""
            found = (
                f"a URL of scheme {scheme!r}"
                if scheme and "@" not in scheme
                else (f"a str of {len(value)} characters")
            )
            raise ValueError(
                "SPINACH_BROKER as a str must be a Redis URL (redis://, rediss:// or "
                f"unix://, without leading spaces), not {found}"
            )
        from spinach import RedisBroker

        broker: Broker = RedisBroker.from_url(value)
        return broker
    raise TypeError(
        "SPINACH_BROKER must be a broker instance such as spinach.RedisBroker(), a Redis "
        f"URL, or spinach.MemoryBroker(), not a {type(value).__name__}"
    )


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
