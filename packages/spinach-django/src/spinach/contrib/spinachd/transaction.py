"""Scheduling jobs when the surrounding database transaction commits.

A view that creates a row and schedules a job about it inside ``atomic()``
(or with ``ATOMIC_REQUESTS``) must not enqueue the job before the commit:
a worker could run it before the row is visible (``DoesNotExist``), or
after a rollback, for a row that never existed.  The functions here build
and check the job at once, as :meth:`~spinach.engine.Engine.schedule` does,
and enqueue it with Django's ``transaction.on_commit``: when the outermost
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
from django.db.transaction import TransactionManagementError

from spinach.engine import Engine
from spinach.task import Batch, TaskRef

__all__ = ["schedule_batch_on_commit", "schedule_on_commit"]

logger = logging.getLogger("spinach.contrib.django")


def _engine() -> Engine:
    from . import get_engine

    return get_engine()


def schedule_on_commit(task: TaskRef, *args: Any, **kwargs: Any) -> None:
    """Schedule a job when the transaction of the default database commits.

    Never if it rolls back; at once outside of a transaction.  The job is
    built and checked now, as :meth:`~spinach.engine.Engine.schedule` checks
    it (:class:`~spinach.exc.UnknownTaskError`,
    :class:`~spinach.exc.InvalidJobSignatureError`,
    :class:`~spinach.exc.SerializationError`,
    :class:`~spinach.exc.PayloadTooLargeError`), so a mistake raises in the
    view, not after the commit, and the job carries the arguments as they
    are now.  For another database, or several jobs at once, use
    :func:`schedule_batch_on_commit`.

    :arg task: the task or its name
    :arg args: args to be passed to the task function
    :arg kwargs: kwargs to be passed to the task function
    :raises django.db.transaction.TransactionManagementError: with autocommit
        turned off outside of ``atomic()``, where no commit can be waited for
        (as Django's ``on_commit``)
    """
    batch = Batch()
    batch.schedule(task, *args, **kwargs)
    schedule_batch_on_commit(batch)


def schedule_batch_on_commit(batch: Batch, using: Optional[str] = None) -> None:
    """Schedule every job of ``batch`` at once when the transaction of ``using`` commits.

    All or none of the jobs are enqueued, never on rollback.  Every job is
    built and checked now, as in :func:`schedule_on_commit`.

    :arg batch: the :class:`~spinach.task.Batch` of jobs
    :arg using: alias of the database whose transaction decides, default
        the default database
    :raises TypeError: if ``batch`` is not a Batch
    """
    if not isinstance(batch, Batch):
        raise TypeError(f"schedule_batch_on_commit() takes a spinach.Batch, not {batch!r}")
    using = using or DEFAULT_DB_ALIAS
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        # Autocommit off outside of atomic(): Django's on_commit() refuses
        # it, as the commit it would wait for may never come.  A connection
        # not open yet has autocommit as configured.
        if connection.connection is not None and not connection.get_autocommit():
            raise TransactionManagementError(
                "schedule_on_commit() cannot be used with autocommit turned off outside of "
                "atomic() (manual transaction management): schedule after your commit"
            )
        # What on_commit() does in autocommit mode: at once, and the caller
        # gets any error, as with Engine.schedule_batch().
        _engine().schedule_batch(batch)
        return
    prepared = _engine().prepare_batch(batch)

    def enqueue() -> None:
        # The data is committed: raising cannot undo it, would skip the other
        # on_commit hooks and turn a saved request into an error (retried by
        # the client: a duplicate). Each lost job is logged, to be replayed.
        try:
            prepared.schedule()
        except Exception as exc:
            for job in prepared.jobs:
                logger.error(
                    "Lost job %s of task %s after the commit on database %r: it could not be "
                    "enqueued (%r); schedule it again: %s",
                    job.id,
                    job.task_name,
                    using,
                    exc,
                    _replayable(job.task_name, job.task_args, job.task_kwargs),
                )

    transaction.on_commit(enqueue, using=using)


def _replayable(task: str, args: tuple, kwargs: dict) -> str:  # type: ignore[type-arg]
    """The arguments of a lost job, to replay it; an email's are not logged (its message)."""
    from .tasks import SEND_EMAIL_TASK

    if task == SEND_EMAIL_TASK:
        return "(an email: its message is not logged)"
    return f"args={args!r:.1000} kwargs={kwargs!r:.1000}"
