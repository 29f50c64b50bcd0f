"""Database connections around jobs, as Django handles them around requests.

Django closes the connections that are unusable or older than
``CONN_MAX_AGE`` when a request starts and when it finishes
(``close_old_connections``), and clears the query log of ``DEBUG`` when a
request starts.  Jobs get the same treatment: a worker thread lives for
hours, so without it a connection broken by a database restart, or kept past
its maximum age, would fail every later job of that thread.  When a worker
thread stops, its connections are closed.

The signals of a job are sent from the thread that runs it (threaded
workers), so these hooks act on that thread's connections.  On asyncio
workers they are sent from the event loop, where Django refuses database
work; the hooks do nothing there, and sync tasks that asyncio workers run in
an executor thread are not covered.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.db import close_old_connections, connections, reset_queries

from spinach import signals

__all__ = ["connect_database_hooks"]

logger = logging.getLogger("spinach.contrib.django")


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _job_started(namespace: str, **kwargs: Any) -> None:
    if _in_event_loop():
        return
    reset_queries()
    close_old_connections()


def _job_finished(namespace: str, **kwargs: Any) -> None:
    if _in_event_loop():
        return
    close_old_connections()


def _worker_terminated(namespace: str, **kwargs: Any) -> None:
    if _in_event_loop():
        return
    connections.close_all()


def connect_database_hooks(namespace: str) -> None:
    """Recycle database connections around the jobs of ``namespace``.

    Connecting the same namespace again is harmless.
    """
    signals.job_started.connect(_job_started, sender=namespace, weak=False)
    signals.job_finished.connect(_job_finished, sender=namespace, weak=False)
    signals.worker_terminated.connect(_worker_terminated, sender=namespace, weak=False)
