"""Spinach's own tasks, found by the ``tasks.py`` discovery like any application's."""

from __future__ import annotations

import logging
from typing import Any, Dict

from django.core.mail import get_connection

from spinach.task import Tasks

from . import conf
from ._email import message_from_data

__all__ = ["SEND_EMAIL_TASK", "send_email", "tasks"]

logger = logging.getLogger("spinach.contrib.django")

#: Name of the task sending one email with the actual backend.
SEND_EMAIL_TASK = "spinachd:send_email"

#: The tasks of the ``spinachd`` application.
tasks = Tasks()


def send_email(message: Dict[str, Any]) -> None:
    """Send one email, given as the data of ``message_to_data``, with the actual backend.

    The backend is ``SPINACH_ACTUAL_EMAIL_BACKEND``, opened with
    ``fail_silently=False``: a failure (e.g. the SMTP server is down) makes
    the job retry, up to 3 times with exponential backoff.  Retried jobs
    are delivered at least once: a worker dying right after the server
    accepted an email may send it twice, never zero times.
    """
    email = message_from_data(message)
    connection = get_connection(conf.actual_email_backend(), fail_silently=False)
    connection.send_messages([email])
    logger.debug("Sent email %r to %d recipients", email.subject, len(email.recipients()))


tasks.add(send_email, name=SEND_EMAIL_TASK, max_retries=3)
