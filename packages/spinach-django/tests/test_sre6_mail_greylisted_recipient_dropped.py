"""SRE6: a recipient greylisted (4xx) while the others are accepted never gets the email.

The documentation promises durable mail: "a temporary failure (SMTP server
down, a 4xx reply such as throttling or greylisting) retries the job".  That
holds only when *every* recipient is refused.  When the server accepts some
recipients and answers ``450`` to another, ``smtplib.sendmail()`` sends the
message to the accepted ones and *returns* the refused ones; Django's SMTP
backend ignores that return value, ``send_email`` sees no exception, and the
job ends ``SUCCEEDED``: no retry, no log, nothing to replay.

User's impact: one email to several recipients (``to`` + ``cc``, a team
notification) silently never reaches the recipients whose server greylists
or is over quota at that moment; a "durable" background mail is lost
without a trace.

Fails today: the job succeeds at once and no retry is scheduled; the
greylisted recipient never receives the message.
Suggested fix: in the worker, send through an SMTP backend that reports the
recipients refused with 4xx (the dict ``sendmail()`` returns), and retry the
message (same Message-ID) for those recipients only, so the accepted ones
do not get it twice; log the 5xx-refused ones.
"""

from __future__ import annotations

import email
import threading

import pytest
from aiosmtpd.controller import Controller
from django.core.mail import send_mail

from spinach import ManualClock, MemoryBroker
from spinach.contrib.spinachd import get_engine


class Greylisting:
    """Accepts every recipient, but answers 450 to grey@ while ``greylisting`` is set."""

    def __init__(self) -> None:
        self.greylisting = threading.Event()
        self.greylisting.set()
        self.delivered = threading.Condition()
        self.deliveries: list[str] = []  # one entry per recipient per accepted DATA
        self.contents: list[bytes] = []  # the message of each accepted DATA

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("grey@") and self.greylisting.is_set():
            return "450 4.2.0 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.delivered:
            self.deliveries.extend(envelope.rcpt_tos)
            self.contents.append(envelope.original_content or envelope.content)
            self.delivered.notify_all()
        return "250 OK"

    def wait_for(self, address: str, timeout: float) -> bool:
        with self.delivered:
            return self.delivered.wait_for(lambda: address in self.deliveries, timeout)


@pytest.fixture
def smtp(free_port):
    handler = Greylisting()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def engine(settings, namespace, recorder_for, smtp):
    _, port = smtp
    settings.EMAIL_BACKEND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"
    settings.SPINACH_ACTUAL_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.SPINACH_EMAIL_ON_COMMIT = False
    settings.SPINACH_NAMESPACE = namespace
    settings.SPINACH_BROKER = MemoryBroker(clock=ManualClock())
    engine = get_engine()
    engine.recorder = recorder_for(namespace)
    yield engine
    engine.stop_workers()


def test_greylisted_recipient_gets_the_email_once_the_greylisting_ends(engine, smtp):
    server, _ = smtp
    send_mail("Team update", "Hi all", "site@example.com", ["ok@example.com", "grey@example.com"])
    engine.start_workers(number=1, block=False)
    engine.recorder.wait_count("job_finished", 1)

    (first,) = engine.recorder.jobs("job_finished")
    first_attempt = f"{first.status.name}, delivered to {list(server.deliveries)}"
    # The greylisting ends; whatever retries the greylisted recipient is due within the hour.
    server.greylisting.clear()
    clock = engine.broker.clock
    assert clock.wait_for_sleepers(1)
    clock.advance(3600)
    assert server.wait_for("grey@example.com", timeout=5), (
        f"the greylisted recipient never got the email: the first attempt ended "
        f"{first_attempt}, retries scheduled: {engine.recorder.count('job_schedule_retry')}"
    )
    assert sorted(server.deliveries) == ["grey@example.com", "ok@example.com"], (
        "each recipient must get the email exactly once"
    )
    # The same message for both: same Message-ID, and the To header of the
    # first sending (not one naming the greylisted recipient alone).
    first, second = (email.message_from_bytes(c) for c in server.contents)
    assert first["Message-ID"] == second["Message-ID"]
    assert first["To"] == second["To"] == "ok@example.com, grey@example.com"
