"""The task sending the emails of :class:`~spinach.contrib.spinachd.mail.BackgroundEmailBackend`.

This module defines no registry, so the ``tasks.py`` discovery finds
nothing here: :func:`~spinach.contrib.spinachd.engine.create_engine`
attaches :func:`email_tasks` only when ``EMAIL_BACKEND`` is the background
backend (:func:`~spinach.contrib.spinachd.conf.background_email_enabled`).
Anyone who can push jobs to the queues could otherwise send any email
through the project's email account.
"""

from __future__ import annotations

import logging
from typing import Any, Dict

from django.core.mail import get_connection

from spinach.exc import AbortException
from spinach.task import Tasks

from . import conf
from ._email import message_from_data

__all__ = ["SEND_EMAIL_TASK", "email_tasks", "send_email"]

logger = logging.getLogger("spinach.contrib.django")

#: Name of the task sending one email with the actual backend.
SEND_EMAIL_TASK = "spinachd:send_email"


def send_email(message: Dict[str, Any]) -> None:
    """Send one email, given as the data of ``message_to_data``, with the actual backend.

    The backend is ``SPINACH_ACTUAL_EMAIL_BACKEND``, opened with
    ``fail_silently=False``: a failure (e.g. the SMTP server is down) makes
    the job retry, up to 3 times with exponential backoff.  Retried jobs
    are delivered at least once: a worker dying right after the server
    accepted an email may send it twice, never zero times.

    ``EMAIL_BACKEND`` is checked again for every job: if the settings no
    longer name the background backend, nothing is sent and the job fails
    at once (:class:`~spinach.exc.AbortException`, logged as a warning).
    """
    if not conf.background_email_enabled():
        logger.warning(
            "Refused a %s job: EMAIL_BACKEND is not the BackgroundEmailBackend, "
            "so this project does not send emails from jobs",
            SEND_EMAIL_TASK,
        )
        raise AbortException(
            f"{SEND_EMAIL_TASK} refused: EMAIL_BACKEND is not "
            "spinach.contrib.spinachd.mail.BackgroundEmailBackend"
        )
    email = message_from_data(message)
    connection = get_connection(conf.actual_email_backend(), fail_silently=False)
    connection.send_messages([email])
    logger.debug("Sent email %r to %d recipients", email.subject, len(email.recipients()))


def email_tasks() -> Tasks:
    """Return a new registry holding :func:`send_email` as ``spinachd:send_email``.

    Attach it only where ``EMAIL_BACKEND`` is the background backend, as
    :func:`~spinach.contrib.spinachd.engine.create_engine` does.
    """
    tasks = Tasks()
    tasks.add(send_email, name=SEND_EMAIL_TASK, max_retries=3)
    return tasks
