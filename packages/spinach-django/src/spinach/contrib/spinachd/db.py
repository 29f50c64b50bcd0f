"""Database connections around jobs, as Django handles them around requests.

Django closes the connections that are unusable or older than
``CONN_MAX_AGE`` when a request starts and when it finishes
(``close_old_connections``), and clears the query log of ``DEBUG`` when a
request starts.  Jobs get the same treatment: a worker thread lives for
hours, so without it a connection broken by a database restart, or kept past
its maximum age, would fail every later job of that thread.

Django's connections belong to the thread that opened them, so the checks
run where each job's code runs, through the Engine's job contexts
(:meth:`spinach.engine.Engine.add_job_context`):

- a sync task, in the thread that runs it: a worker thread of
  ``ThreadWorkers`` or an executor thread of ``AsyncioWorkers``;
- an async task, in the thread where its ``sync_to_async`` calls run
  (asgiref's thread for thread-sensitive calls, Django's default), before
  and after the task: the connections its ORM calls use.

When a worker thread of ``ThreadWorkers`` stops, its connections are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections, reset_queries

from spinach import Engine, signals
from spinach.job import Job

__all__ = ["connect_database_hooks"]

logger = logging.getLogger("spinach.contrib.django")


def _before_job() -> None:
    reset_queries()
    close_old_connections()


@contextlib.contextmanager
def _sync_job(job: Job) -> Iterator[None]:
    _before_job()
    try:
        yield
    finally:
        close_old_connections()


@contextlib.asynccontextmanager
async def _async_job(job: Job) -> AsyncIterator[None]:
    await sync_to_async(_before_job)()
    try:
        yield
    finally:
        await sync_to_async(close_old_connections)()


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _worker_terminated(namespace: str, **kwargs: Any) -> None:
    if _in_event_loop():  # AsyncioWorkers: the loop's thread holds no connection
        return
    connections.close_all()


def connect_database_hooks(engine: Engine) -> None:
    """Recycle database connections around the jobs of ``engine``.

    Call it once per Engine, before its workers start.
    """
    engine.add_job_context(_sync_job, async_context=_async_job)
    signals.worker_terminated.connect(_worker_terminated, sender=engine.namespace, weak=False)
