"""An email backend sending emails from Spinach jobs.

In ``settings.py``::

    EMAIL_BACKEND = 'spinach.contrib.spinachd.mail.BackgroundEmailBackend'
    SPINACH_ACTUAL_EMAIL_BACKEND = 'django.core.mail.backends.smtp.EmailBackend'

Then ``send_mail()`` and friends return as soon as the emails are queued; a
worker sends them with the actual backend.  Messages travel as JSON data
(see :mod:`spinach.contrib.spinachd._email`), never pickled.

Inside a transaction the emails are queued when it commits, and never if
it rolls back (``SPINACH_EMAIL_ON_COMMIT``, see
:mod:`spinach.contrib.spinachd.conf`).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, Optional, Sequence

from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from spinach.task import Batch

from . import conf, get_engine
from ._email import SpinachEmailHook, check_message, message_to_data
from .tasks import SEND_EMAIL_TASK
from .transaction import schedule_batch_on_commit

__all__ = ["BackgroundEmailBackend", "SpinachEmailHook"]

logger = logging.getLogger("spinach.contrib.django")

_SCALARS = (str, int, float, bool)


# Connection options that hold a secret (password, api_key, secret_key,
# aws_secret_access_key, token, credentials...): never stored in a job.
_SECRET = re.compile(r"pass|secret|key|token|credential|auth", re.IGNORECASE)
# ... except the paths of TLS files, which are not secrets themselves.
_NOT_SECRET = frozenset(("ssl_keyfile", "ssl_certfile"))


def _connection_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """Keep the options given to ``get_connection()`` that can travel in a job.

    ``None`` values are Django's "not given" (``send_mail`` passes
    ``username=None, password=None``) and are dropped.
    """
    kept: Dict[str, Any] = {}
    for key, value in options.items():
        if value is None:
            continue
        if _SECRET.search(key) and key not in _NOT_SECRET:
            raise ValueError(
                f"BackgroundEmailBackend does not take the connection option {key!r} (a password, "
                "key, token or secret: send_mail's auth_password, an API key): it would be "
                "stored in clear in the broker with every email. Set "
                "EMAIL_HOST_PASSWORD in the settings of the workers, or point "
                "SPINACH_ACTUAL_EMAIL_BACKEND to a backend that finds its credentials"
            )
        if not isinstance(value, _SCALARS):
            raise TypeError(
                f"BackgroundEmailBackend connection option {key}={value!r} cannot travel in a "
                "job: only str, int, float and bool options are kept"
            )
        kept[key] = value
    return kept


class BackgroundEmailBackend(BaseEmailBackend):
    """Email backend scheduling one ``spinachd:send_email`` job per message.

    The jobs of one call are scheduled in one batch, so either all of its
    messages are queued or none is.  Messages without recipients are
    skipped, as Django's backends do.  With ``fail_silently``, an error while
    queueing is logged and 0 returned instead of raised.

    Connection options (``get_connection(host=..., username=...)``, or
    ``send_mail(auth_user=...)``) are kept and given to the actual backend
    in the worker; a password is refused (:class:`ValueError`), as is an
    option that is not a str, int, float or bool (:class:`TypeError`).

    A subclass of ``EmailMessage`` without the :class:`SpinachEmailHook`
    methods is refused with a :class:`TypeError` when it is sent, whatever
    ``fail_silently`` says: it would lose its own attributes.

    The task exists only when ``EMAIL_BACKEND`` named this backend when the
    Engine was created: used otherwise, the backend raises
    ``ImproperlyConfigured`` rather than queue jobs no worker would send.
    """

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        #: The connection options given to the actual backend in the worker.
        self.connection_options = _connection_options(kwargs)
        super().__init__(fail_silently=fail_silently)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Queue the messages to be sent in the background; return how many were queued.

        Inside a transaction (``SPINACH_EMAIL_ON_COMMIT``, default on), the
        count is of the messages that will be queued when it commits.
        """
        messages = [m for m in email_messages if m.recipients()]
        if not messages:
            return 0
        for message in messages:
            check_message(message)
        try:
            using: Optional[str] = conf.email_on_commit()
            batch = Batch()
            options = self.connection_options
            for message in messages:
                if options:
                    batch.schedule(SEND_EMAIL_TASK, message_to_data(message), options)
                else:  # the job of earlier versions, which every worker can run
                    batch.schedule(SEND_EMAIL_TASK, message_to_data(message))
            engine = get_engine()
            if SEND_EMAIL_TASK not in engine.tasks:
                raise ImproperlyConfigured(
                    f"the task {SEND_EMAIL_TASK} exists only when EMAIL_BACKEND is "
                    "'spinach.contrib.spinachd.mail.BackgroundEmailBackend' when Django starts: "
                    "set it in the settings of the web processes and of the workers"
                )
            if using is None:
                engine.schedule_batch(batch)
            else:
                schedule_batch_on_commit(batch, using=using)
        except Exception:
            if not self.fail_silently:
                raise
            logger.exception("Could not queue %d emails to send in the background", len(messages))
            return 0
        return len(messages)

    def __repr__(self) -> str:
        return f"<BackgroundEmailBackend fail_silently={self.fail_silently!r}>"
