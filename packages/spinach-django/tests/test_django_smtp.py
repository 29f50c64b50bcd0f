"""The email task against a real SMTP server (aiosmtpd, started by each test).

Temporary errors retry over minutes (on a ManualClock), permanent ones fail
at once and are logged with the Message-ID; connection options reach the
SMTP backend; subclasses travel through their hook or are refused.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.core.mail import get_connection, send_mail

from spinach import ManualClock, MemoryBroker
from spinach.contrib.spinachd import get_engine
from spinach.contrib.spinachd.tasks import SEND_EMAIL_TASK
from spinach.job import JobStatus

SMTP = "django.core.mail.backends.smtp.EmailBackend"


class Handler:
    """Accepts mail, refuses rcpt 'nobody@', answers 451 while ``throttled`` is set."""

    def __init__(self) -> None:
        self.throttled = threading.Event()
        self.received: list = []
        self.arrived = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.throttled.is_set():
            return "451 4.7.1 throttled, try later"
        self.received.append(envelope)
        self.arrived.set()
        return "250 OK"


@pytest.fixture
def smtp(free_port):
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def engine(settings, namespace, recorder_for, smtp):
    settings.EMAIL_BACKEND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"
    settings.SPINACH_ACTUAL_EMAIL_BACKEND = SMTP
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    settings.SPINACH_NAMESPACE = namespace
    settings.SPINACH_BROKER = MemoryBroker(clock=ManualClock())
    engine = get_engine()
    engine.recorder = recorder_for(namespace)
    yield engine
    engine.stop_workers()


def test_temporary_error_retries_after_minutes_then_sends(engine, smtp):
    smtp.throttled.set()
    send_mail("Invoice", "Hi", "a@example.com", ["b@example.com"])
    clock = engine.broker.clock
    start = clock.now()
    engine.start_workers(number=1, block=False)

    engine.recorder.wait_count("job_schedule_retry", 1)
    (job,) = engine.recorder.jobs("job_schedule_retry")
    assert job.at - start >= timedelta(seconds=30)  # not the core's seconds-long backoff
    assert job.max_retries == 10  # about 4 hours of retries by default
    assert clock.wait_for_sleepers(1)
    smtp.throttled.clear()
    clock.advance(31)

    engine.recorder.wait_count("job_finished", 2)  # the attempt that failed, then this one
    assert engine.recorder.jobs("job_finished")[-1].status is JobStatus.SUCCEEDED
    assert smtp.arrived.is_set() and smtp.received[0].rcpt_tos == ["b@example.com"]


def test_refused_recipient_fails_at_once_logged_with_message_id(engine, smtp, caplog):
    with caplog.at_level(logging.ERROR, logger="spinach.contrib.django"):
        send_mail("Hello", "Hi", "a@example.com", ["nobody@example.com"])
        engine.start_workers(number=1, stop_when_queue_empty=True)
    (failed,) = engine.recorder.jobs("job_failed")
    assert failed.retries == 0 and engine.recorder.count("job_schedule_retry") == 0
    (record,) = [r for r in caplog.records if "failed for good" in r.getMessage()]
    assert "Message-ID" not in record.getMessage()  # the id itself is logged
    assert "@" in record.getMessage().split()[1]  # Email <id@host> ...


def test_retry_count_and_backoff_are_settings(settings, engine):
    settings.SPINACH_EMAIL_MAX_RETRIES = 2
    settings.SPINACH_EMAIL_RETRY_BACKOFF = lambda retries: timedelta(minutes=5)
    assert get_engine().tasks[SEND_EMAIL_TASK].max_retries == 2


def test_connection_options_reach_the_smtp_backend(settings, engine, smtp, free_port):
    settings.EMAIL_PORT = free_port()  # the settings point nowhere ...
    connection = get_connection(host="127.0.0.1", port=smtp.port)  # ... the options do
    send_mail("Hello", "Hi", "a@example.com", ["b@example.com"], connection=connection)
    engine.start_workers(number=1, stop_when_queue_empty=True)
    assert engine.recorder.jobs("job_finished")[0].status is JobStatus.SUCCEEDED
    assert len(smtp.received) == 1


def test_a_password_is_refused_rather_than_stored_in_the_broker(engine):
    with pytest.raises(ValueError, match="does not take the connection option 'password'"):
        send_mail(
            "Hello", "Hi", "a@example.com", ["b@example.com"], auth_user="u", auth_password="p"
        )
    with pytest.raises(TypeError, match="cannot travel in a job"):
        get_connection(timeout=object())
    assert engine.broker.queue_length("spinach") == 0


def test_subclass_with_the_hook_round_trips_its_attributes(settings, engine):
    from testproject.mail import TaggedMessage

    settings.SPINACH_ACTUAL_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    TaggedMessage("s", "b", "a@example.com", ["x@example.com"], tags=["welcome"]).send()
    engine.start_workers(number=1, stop_when_queue_empty=True)
    (received,) = mail.outbox
    assert type(received) is TaggedMessage and received.tags == ["welcome"]
