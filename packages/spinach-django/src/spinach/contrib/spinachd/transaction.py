"""Scheduling jobs when the surrounding database transaction commits.

A view that creates a row and schedules a job about it inside ``atomic()``
(or with ``ATOMIC_REQUESTS``) must not enqueue the job before the commit:
a worker could run it before the row is visible (``DoesNotExist``), or
after a rollback, for a row that never existed.  The functions here check
the job at once, as :meth:`~spinach.engine.Engine.schedule` does, and
enqueue it with Django's ``transaction.on_commit``: when the outermost
transaction of the database commits, never if it rolls back, and at once
outside of a transaction (autocommit)::

    from spinach.contrib.spinachd import schedule_on_commit

    with transaction.atomic():
        question = Question.objects.create(...)
        schedule_on_commit('polls:close_poll', question.id)
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from django.db import DEFAULT_DB_ALIAS, transaction

from spinach.engine import Engine
from spinach.exc import UnknownTaskError
from spinach.task import Batch, Task, TaskRef

__all__ = ["schedule_batch_on_commit", "schedule_on_commit"]

logger = logging.getLogger("spinach.contrib.django")


def _engine() -> Engine:
    from . import get_engine

    return get_engine()


def _check(engine: Engine, task: TaskRef, args: tuple, kwargs: dict) -> None:  # type: ignore[type-arg]
    """Raise now what scheduling would raise at commit time: unknown task, bad arguments."""
    if isinstance(task, (str, Task)):
        name = task if isinstance(task, str) else task.name
        found = engine.tasks.get(name)
    else:
        matches = [t for t in engine.tasks.values() if t.func is task]
        found = matches[0] if len(matches) == 1 else None
    if found is None:
        raise UnknownTaskError(
            f"{getattr(task, '__qualname__', task)!r} is not a task attached to the Engine "
            f"of namespace {engine.namespace!r} (a function registered under several "
            "names must be scheduled by name)"
        )
    found.check_arguments(args, kwargs)


def schedule_on_commit(task: TaskRef, *args: Any, **kwargs: Any) -> None:
    """Schedule a job when the transaction of the default database commits.

    Never if it rolls back; at once outside of a transaction.  The task and
    the arguments are checked now (:class:`~spinach.exc.UnknownTaskError`,
    :class:`~spinach.exc.InvalidJobSignatureError`), so a mistake raises in
    the view, not after the commit.  For another database, or several jobs
    at once, use :func:`schedule_batch_on_commit`.

    :arg task: the task or its name
    :arg args: args to be passed to the task function
    :arg kwargs: kwargs to be passed to the task function
    """
    engine = _engine()
    _check(engine, task, args, kwargs)
    batch = Batch()
    batch.schedule(task, *args, **kwargs)
    _enqueue_on_commit(engine, batch, DEFAULT_DB_ALIAS)


def schedule_batch_on_commit(batch: Batch, using: Optional[str] = None) -> None:
    """Schedule every job of ``batch`` at once when the transaction of ``using`` commits.

    All or none of the jobs are enqueued, never on rollback.  Every job is
    checked now, as in :func:`schedule_on_commit`.

    :arg batch: the :class:`~spinach.task.Batch` of jobs
    :arg using: alias of the database whose transaction decides, default
        the default database
    :raises TypeError: if ``batch`` is not a Batch
    """
    if not isinstance(batch, Batch):
        raise TypeError(f"schedule_batch_on_commit() takes a spinach.Batch, not {batch!r}")
    engine = _engine()
    for item in batch.jobs_to_create:
        _check(engine, item.task, item.args, item.kwargs)
    _enqueue_on_commit(engine, batch, using or DEFAULT_DB_ALIAS)


def _enqueue_on_commit(engine: Engine, batch: Batch, using: str) -> None:
    if not transaction.get_connection(using).in_atomic_block:
        # What on_commit() does in autocommit mode, without opening a
        # database connection only to find that out: the caller gets the
        # error, as with Engine.schedule_batch().
        engine.schedule_batch(batch)
        return

    def enqueue() -> None:
        # The data is committed: raising cannot undo it, would skip the other
        # on_commit hooks and turn a saved request into an error (retried by
        # the client: a duplicate). Each lost job is logged, to be replayed.
        try:
            engine.schedule_batch(batch)
        except Exception as exc:
            for item in batch.jobs_to_create:
                logger.error(
                    "Lost job of task %s after the commit on database %r: it could not be "
                    "enqueued (%r); schedule it again: %s",
                    _name_of(item.task),
                    using,
                    exc,
                    _replayable(item.task, item.args, item.kwargs),
                )

    transaction.on_commit(enqueue, using=using)


def _name_of(task: TaskRef) -> str:
    if isinstance(task, Task):
        return task.name
    if isinstance(task, str):
        return task
    return str(getattr(task, "__qualname__", task))


def _replayable(task: TaskRef, args: tuple, kwargs: dict) -> str:  # type: ignore[type-arg]
    """The arguments of a lost job, to replay it; an email's are not logged (its message)."""
    from .tasks import SEND_EMAIL_TASK

    if _name_of(task) == SEND_EMAIL_TASK:
        return "(an email: its message is not logged)"
    return f"args={args!r:.1000} kwargs={kwargs!r:.1000}"
