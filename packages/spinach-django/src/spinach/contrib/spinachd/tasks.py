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
import smtplib
from typing import Any, Dict, Optional, Tuple

from django.core.mail import BadHeaderError, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend

from spinach.exc import AbortException, RetryException
from spinach.runner import current_job
from spinach.task import Tasks

from . import conf
from ._email import message_from_data, message_id_of

__all__ = ["SEND_EMAIL_TASK", "email_tasks", "is_permanent_smtp_error", "send_email"]

logger = logging.getLogger("spinach.contrib.django")

#: Name of the task sending one email with the actual backend.
SEND_EMAIL_TASK = "spinachd:send_email"


def is_permanent_smtp_error(error: BaseException) -> bool:
    """Whether retrying this message cannot help: a 5xx reply about the message itself.

    Permanent: recipients all refused with 5xx (a 4xx, e.g. a full mailbox
    or greylisting, is worth retrying), a sender or message refused with
    550-554 (unknown address, too large, rejected content), an SMTP
    extension the server lacks, a header Django refuses to write (a
    newline in it: ``BadHeaderError``).  Temporary, retried on the backoff: every
    reply about the worker's own set-up, which an operator fixes while the
    mails wait (530, 534, 535, 538 and enhanced codes 5.7.x: authentication
    and TLS; 500-504: the session), connection errors, timeouts and 4xx.
    """
    if isinstance(error, BadHeaderError):  # a header with a newline: refused by Django
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return bool(codes) and all(code in _MESSAGE_CODES for code in codes)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return True
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return False  # credentials of the worker: fixed by an operator
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        if text.lstrip().startswith("5.7."):  # security: auth, TLS, policy of the relay
            return False
        return error.smtp_code in _MESSAGE_CODES
    return False


#: SMTP replies that refuse this message (or recipient) for good.
_MESSAGE_CODES = frozenset((550, 551, 552, 553, 554))


def send_email(message: Dict[str, Any], connection: Optional[Dict[str, Any]] = None) -> None:
    """Send one email, given as the data of ``message_to_data``, with the actual backend.

    The backend is ``SPINACH_ACTUAL_EMAIL_BACKEND``, opened with
    ``fail_silently=False`` and the ``connection`` options the background
    backend was given.  A permanent error (:func:`is_permanent_smtp_error`)
    fails the job at once; any other error retries it after
    ``SPINACH_EMAIL_RETRY_BACKOFF`` (30 s doubling up to 1 hour), up to
    ``SPINACH_EMAIL_MAX_RETRIES`` times (10).  Both are logged with the
    message's ``Message-ID``.  Retried jobs are delivered at least once: a
    worker dying right after the server accepted an email may send it twice
    (with the same ``Message-ID``), never zero times.

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
    message_id = message_id_of(message)
    backend = get_connection(conf.actual_email_backend(), fail_silently=False, **(connection or {}))
    try:
        refused = _send(backend, email)
    except Exception as exc:
        if is_permanent_smtp_error(exc):
            logger.error(
                "Email %s (%r) failed for good, not retried: %r", message_id, email.subject, exc
            )
            raise AbortException(f"email {message_id} refused: {exc!r}") from exc
        job = current_job()
        retries = job.retries if job is not None else 0
        delay = conf.email_retry_backoff()(retries)
        from . import get_engine

        at = get_engine().broker.clock.now() + delay
        logger.warning(
            "Email %s (%r) not sent (%r), attempt %d: retrying in %s if retries are left",
            message_id,
            email.subject,
            exc,
            retries + 1,
            delay,
        )
        raise RetryException(f"email {message_id} not sent: {exc!r}", at=at) from exc
    if refused:
        _send_again_to_refused(message, connection, message_id, refused)
    logger.debug(
        "Sent email %s to %d recipients", message_id, len(email.recipients()) - len(refused)
    )


def _send(backend: Any, email: Any) -> Dict[str, Tuple[int, bytes]]:
    """Send ``email``; return the recipients refused while others were accepted.

    An SMTP server may accept some recipients of a message and refuse
    others: ``smtplib`` then sends to the accepted ones and returns the
    refused ones, which Django's SMTP backend drops.  They are caught here,
    on the backend's own connection.
    """
    refused: Dict[str, Tuple[int, bytes]] = {}
    if not isinstance(backend, SMTPBackend):
        backend.send_messages([email])
        return refused
    opened = backend.open()
    try:
        connection = backend.connection
        if connection is not None:
            sendmail = connection.sendmail

            def sendmail_noting_refusals(*args: Any, **kwargs: Any) -> Any:
                result = sendmail(*args, **kwargs)
                refused.update(result or {})
                return result

            connection.sendmail = sendmail_noting_refusals
        backend.send_messages([email])
    finally:
        if opened:
            backend.close()
    return refused


def _send_again_to_refused(
    message: Dict[str, Any],
    connection: Optional[Dict[str, Any]],
    message_id: str,
    refused: Dict[str, Tuple[int, bytes]],
) -> None:
    """Log the recipients refused for good; send again later to those refused for now.

    The new job carries the same message (same ``Message-ID``, same ``To``
    and ``Cc`` headers) for the temporarily refused recipients only, so the
    others never get it twice; it counts against ``SPINACH_EMAIL_MAX_RETRIES``.
    """
    permanent = sorted(a for a, (code, _) in refused.items() if code in _MESSAGE_CODES)
    temporary = sorted(a for a in refused if a not in permanent)
    if permanent:
        logger.error(
            "Email %s refused for good for %s: %r",
            message_id,
            ", ".join(permanent),
            {a: refused[a] for a in permanent},
        )
    if not temporary:
        return
    done = int(message.get("recipient_retries", 0))
    if done >= conf.email_max_retries():
        logger.error(
            "Email %s not sent to %s after %d retries, given up: %r",
            message_id,
            ", ".join(temporary),
            done,
            {a: refused[a] for a in temporary},
        )
        return
    again = dict(message)
    headers = dict(message["headers"])
    present = {key.lower() for key in headers}
    for header, key in (("To", "to"), ("Cc", "cc")):
        if header.lower() not in present and message[key]:
            headers[header] = ", ".join(message[key])  # as the others got it
    again.update(to=[], cc=[], bcc=temporary, headers=headers, recipient_retries=done + 1)
    delay = conf.email_retry_backoff()(done)
    from . import get_engine

    engine = get_engine()
    args: Tuple[Any, ...] = (again,) if not connection else (again, connection)
    engine.schedule_at(SEND_EMAIL_TASK, engine.broker.clock.now() + delay, *args)
    logger.warning(
        "Email %s refused for now for %s (%r): sending to them again in %s",
        message_id,
        ", ".join(temporary),
        {a: refused[a] for a in temporary},
        delay,
    )


def email_tasks() -> Tasks:
    """Return a new registry holding :func:`send_email` as ``spinachd:send_email``.

    Its ``max_retries`` is ``SPINACH_EMAIL_MAX_RETRIES``.  Attach it only
    where ``EMAIL_BACKEND`` is the background backend, as
    :func:`~spinach.contrib.spinachd.engine.create_engine` does.
    """
    tasks = Tasks()
    tasks.add(send_email, name=SEND_EMAIL_TASK, max_retries=conf.email_max_retries())
    return tasks
