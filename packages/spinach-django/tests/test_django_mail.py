"""BackgroundEmailBackend: emails go through a job, as JSON, and arrive intact."""

from __future__ import annotations

import json
import logging
import pickle
import re
from email.mime.image import MIMEImage

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, EmailMultiAlternatives, send_mail
from django.test import override_settings

from spinach.contrib.spinachd import conf, get_engine
from spinach.contrib.spinachd._email import message_from_data, message_to_data
from spinach.contrib.spinachd.mail import BackgroundEmailBackend
from spinach.job import JobStatus

BACKGROUND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\xfe binary \x00\x01"


@pytest.fixture
def background(settings, recorder_for):
    """Emails sent with the background backend, delivered to Django's locmem outbox."""
    settings.EMAIL_BACKEND = BACKGROUND
    settings.SPINACH_ACTUAL_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    engine = get_engine()
    engine.recorder = recorder_for(engine.namespace)
    mail.outbox = []
    yield engine
    engine.broker.flush()


def run_workers(engine):
    engine.start_workers(number=2, stop_when_queue_empty=True)


def rich_message() -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject="Réunion — ordre du jour",
        body="Bonjour,\nvoici l'ordre du jour.",
        from_email="Alice <alice@example.com>",
        to=["bob@example.com", "Chloé <chloe@example.com>"],
        cc=["carol@example.com"],
        bcc=["boss@example.com"],
        reply_to=["replies@example.com"],
        headers={
            "X-Campaign": "spring",
            "Message-ID": "<fixed@example.com>",
            "Date": "Tue, 01 Apr 2025 10:00:00 -0000",
        },
    )
    message.attach_alternative("<p>Bonjour, <b>voici</b></p>", "text/html")
    message.attach("notes.txt", "ligne 1\nligne 2 é", "text/plain")
    message.attach("data.csv", b"a,b\n1,2\n", "text/csv")  # text bytes, decoded by attach()
    message.attach("logo.png", PNG, "image/png")
    message.attach("blob.bin", b"\xff\xfe\x00 not utf-8", "text/plain")  # stays bytes
    inline = MIMEImage(PNG, "png")
    inline.add_header("Content-ID", "<logo@example.com>")
    inline.add_header("Content-Disposition", "inline", filename="inline.png")
    message.attach(inline)
    return message


def test_send_mail_is_sent_by_a_job(background):
    sent = send_mail("Subject", "Content", "sender@example.com", ["receiver@example.com"])

    assert sent == 1
    assert mail.outbox == []  # queued, not sent by the request
    assert background.broker.queue_length("spinach") == 1
    run_workers(background)

    assert [j.status for j in background.recorder.jobs("job_finished")] == [JobStatus.SUCCEEDED]
    (received,) = mail.outbox
    assert (received.subject, received.body) == ("Subject", "Content")
    assert (received.from_email, received.to) == ("sender@example.com", ["receiver@example.com"])


def test_rich_message_arrives_intact(background):
    original = rich_message()

    assert original.send() == 1
    run_workers(background)

    (received,) = mail.outbox
    assert type(received) is EmailMultiAlternatives
    for attribute in (
        "subject",
        "body",
        "from_email",
        "to",
        "cc",
        "bcc",
        "reply_to",
        "extra_headers",
        "alternatives",
        "content_subtype",
        "mixed_subtype",
        "alternative_subtype",
        "encoding",
    ):
        assert getattr(received, attribute) == getattr(original, attribute), attribute
    # Name, content (str or bytes, as attach() stored it) and mimetype of each.
    assert received.attachments[:4] == original.attachments[:4]
    assert [type(a.content) for a in received.attachments[:4]] == [str, str, bytes, bytes]
    assert received.attachments[4].as_bytes() == original.attachments[4].as_bytes()
    assert received.attachments[4]["Content-ID"] == "<logo@example.com>"
    # The MIME message the actual backend builds is the one the original builds.
    assert same_boundaries(received.message().as_bytes()) == same_boundaries(
        original.message().as_bytes()
    )


def same_boundaries(wire: bytes) -> bytes:
    """Replace the random multipart boundaries by stable names."""
    for n, boundary in enumerate(re.findall(rb'boundary="([^"]+)"', wire)):
        wire = wire.replace(boundary, b"boundary-%d" % n)
    return wire


def test_rendered_message_keeps_every_part(background):
    """Parse what the actual backend would put on the wire."""
    rich_message().send()
    run_workers(background)

    wire = mail.outbox[0].message()
    assert wire["Cc"] == "carol@example.com"
    assert wire["Reply-To"] == "replies@example.com"
    assert wire["X-Campaign"] == "spring"
    assert "Bcc" not in wire  # bcc are recipients, never a header
    assert sorted(mail.outbox[0].recipients()) == sorted(
        ["bob@example.com", "Chloé <chloe@example.com>", "carol@example.com", "boss@example.com"]
    )
    parts = {part.get_filename(): part for part in wire.walk() if part.get_filename()}
    assert parts["logo.png"].get_payload(decode=True) == PNG
    assert parts["inline.png"].get_payload(decode=True) == PNG
    assert parts["blob.bin"].get_payload(decode=True) == b"\xff\xfe\x00 not utf-8"
    assert parts["notes.txt"].get_payload(decode=True).decode() == "ligne 1\nligne 2 é"
    html = [p for p in wire.walk() if p.get_content_type() == "text/html"]
    assert html[0].get_payload(decode=True).decode() == "<p>Bonjour, <b>voici</b></p>"


def test_message_data_is_plain_json():
    data = message_to_data(rich_message())
    assert json.loads(json.dumps(data)) == data
    rebuilt = message_from_data(json.loads(json.dumps(data)))
    assert message_to_data(rebuilt) == data


def test_no_pickle_is_ever_used(background, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    for name in ("dumps", "loads", "dump", "load"):
        monkeypatch.setattr(pickle, name, refuse)
    rich_message().send()
    run_workers(background)
    assert len(mail.outbox) == 1
    assert background.recorder.jobs("job_finished")[0].status is JobStatus.SUCCEEDED


def test_one_job_per_message_all_queued_at_once(background):
    messages = [EmailMessage(f"n°{i}", "body", to=[f"u{i}@example.com"]) for i in range(3)]
    nobody = EmailMessage("nobody", "body")  # no recipient: skipped, as Django's backends do

    assert BackgroundEmailBackend().send_messages([*messages, nobody]) == 3
    assert BackgroundEmailBackend().send_messages([nobody]) == 0
    assert background.broker.queue_length("spinach") == 3
    run_workers(background)
    assert sorted(m.subject for m in mail.outbox) == ["n°0", "n°1", "n°2"]


def test_actual_backend_failure_retries_the_job(background, settings):
    from testproject import mail as flaky

    settings.SPINACH_ACTUAL_EMAIL_BACKEND = "testproject.mail.FlakyEmailBackend"
    flaky.failures_left["count"] = 1
    send_mail("Subject", "Content", "sender@example.com", ["receiver@example.com"])

    background.start_workers(number=1, block=False)
    background.recorder.wait_count("job_finished", 1)
    background.stop_workers()

    (retried,) = background.recorder.jobs("job_schedule_retry")
    assert retried.status is JobStatus.WAITING
    assert "Connection unexpectedly closed" in str(
        background.recorder.errors("job_schedule_retry")[0]
    )
    assert mail.outbox == []


def test_actual_backend_defaults_to_smtp(settings):
    del settings.SPINACH_ACTUAL_EMAIL_BACKEND
    assert conf.actual_email_backend() == "django.core.mail.backends.smtp.EmailBackend"


def test_actual_backend_cannot_be_the_background_backend(settings):
    settings.SPINACH_ACTUAL_EMAIL_BACKEND = BACKGROUND
    with pytest.raises(ImproperlyConfigured, match="cannot be the BackgroundEmailBackend"):
        conf.actual_email_backend()


def test_queueing_errors_raise_or_are_logged_with_fail_silently(caplog):
    message = EmailMessage("s", "b", to=["x@example.com"])
    with override_settings(INSTALLED_APPS=["django.contrib.contenttypes"]):
        with pytest.raises(ImproperlyConfigured):
            BackgroundEmailBackend().send_messages([message])
        with caplog.at_level(logging.ERROR, logger="spinach.contrib.django"):
            assert BackgroundEmailBackend(fail_silently=True).send_messages([message]) == 0
    assert "Could not queue 1 emails" in caplog.text


def test_subclasses_without_the_hook_are_refused_at_send_time(background):
    class Newsletter(EmailMultiAlternatives):
        pass

    # Refused even with fail_silently: losing attributes is a bug, not an outage.
    with pytest.raises(TypeError, match="Newsletter cannot be sent in the background"):
        Newsletter("s", "b", to=["x@example.com"]).send(fail_silently=True)
    assert background.broker.queue_length("spinach") == 0
