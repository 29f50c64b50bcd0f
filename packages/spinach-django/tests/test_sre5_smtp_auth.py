"""SRE5: a worker-side credentials problem is not a property of the email.

A rotated EMAIL_HOST_PASSWORD, or a worker deployed without its secret,
makes the SMTP server answer 535 (bad credentials) or 530 (authentication
required).  Both are 5xx, so ``is_permanent_smtp_error`` aborts every email
at once: during the misconfiguration window every queued email is dropped
for good instead of waiting (the backoff covers ~4 hours) for the fix.
Real aiosmtpd server requiring AUTH; the send_email task body as a worker runs it.
"""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.core.mail import EmailMessage

from spinach import ManualClock, MemoryBroker
from spinach.contrib.spinachd import get_engine
from spinach.contrib.spinachd._email import message_to_data
from spinach.contrib.spinachd.tasks import SEND_EMAIL_TASK
from spinach.exc import AbortException, RetryException


class Handler:
    def __init__(self) -> None:
        self.received: list = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope)
        return "250 OK"


def check_password(server, session, envelope, mechanism, auth_data):
    ok = getattr(auth_data, "login", b"") == b"mailer" and auth_data.password == b"new-secret"
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp(free_port):
    handler = Handler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=check_password,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def worker_settings(settings, namespace, smtp):
    settings.EMAIL_BACKEND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"
    settings.SPINACH_ACTUAL_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    settings.EMAIL_TIMEOUT = 5
    settings.SPINACH_NAMESPACE = namespace
    settings.SPINACH_BROKER = MemoryBroker(clock=ManualClock())
    return settings


def _run_task(message):
    """The body of the spinachd:send_email job, as the worker calls it."""
    get_engine().tasks[SEND_EMAIL_TASK].func(message_to_data(message))


def test_rotated_password_535_is_retried_not_dropped(worker_settings, smtp):
    worker_settings.EMAIL_HOST_USER, worker_settings.EMAIL_HOST_PASSWORD = "mailer", "old-secret"
    message = EmailMessage("Invoice", "Hi", "a@example.com", ["b@example.com"])
    with pytest.raises((RetryException, AbortException)) as raised:
        _run_task(message)
    assert isinstance(raised.value, RetryException), f"email dropped: {raised.value!r}"


def test_missing_worker_secret_530_is_retried_not_dropped(worker_settings, smtp):
    worker_settings.EMAIL_HOST_USER, worker_settings.EMAIL_HOST_PASSWORD = "", ""
    message = EmailMessage("Invoice", "Hi", "a@example.com", ["b@example.com"])
    with pytest.raises((RetryException, AbortException)) as raised:
        _run_task(message)
    assert isinstance(raised.value, RetryException), f"email dropped: {raised.value!r}"
