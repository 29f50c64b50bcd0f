"""An email backend sending emails from Spinach jobs.

In ``settings.py``::

    EMAIL_BACKEND = 'spinach.contrib.spinachd.mail.BackgroundEmailBackend'
    SPINACH_ACTUAL_EMAIL_BACKEND = 'django.core.mail.backends.smtp.EmailBackend'

Then ``send_mail()`` and friends return as soon as the emails are queued; a
worker sends them with the actual backend.  Messages travel as JSON data
(see :mod:`spinach.contrib.spinachd._email`), never pickled.
"""

from __future__ import annotations

import logging
from typing import Sequence

from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from spinach.task import Batch

from . import get_engine
from ._email import message_to_data
from .tasks import SEND_EMAIL_TASK

__all__ = ["BackgroundEmailBackend"]

logger = logging.getLogger("spinach.contrib.django")


class BackgroundEmailBackend(BaseEmailBackend):
    """Email backend scheduling one ``spinachd:send_email`` job per message.

    The jobs of one call are scheduled in one batch, so either all of its
    messages are queued or none is.  Messages without recipients are
    skipped, as Django's backends do.  With ``fail_silently``, an error while
    queueing is logged and 0 returned instead of raised.

    The task exists only when ``EMAIL_BACKEND`` named this backend when the
    Engine was created: used otherwise, the backend raises
    ``ImproperlyConfigured`` rather than queue jobs no worker would send.
    """

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Queue the messages to be sent in the background; return how many were queued."""
        messages = [m for m in email_messages if m.recipients()]
        if not messages:
            return 0
        try:
            batch = Batch()
            for message in messages:
                batch.schedule(SEND_EMAIL_TASK, message_to_data(message))
            engine = get_engine()
            if SEND_EMAIL_TASK not in engine.tasks:
                raise ImproperlyConfigured(
                    f"the task {SEND_EMAIL_TASK} exists only when EMAIL_BACKEND is "
                    "'spinach.contrib.spinachd.mail.BackgroundEmailBackend' when Django starts: "
                    "set it in the settings of the web processes and of the workers"
                )
            engine.schedule_batch(batch)
        except Exception:
            if not self.fail_silently:
                raise
            logger.exception("Could not queue %d emails to send in the background", len(messages))
            return 0
        return len(messages)

    def __repr__(self) -> str:
        return f"<BackgroundEmailBackend fail_silently={self.fail_silently!r}>"
