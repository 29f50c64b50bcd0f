"""SRE6: an email with a newline in a header is accepted, then retried for hours and lost.

Django refuses header injection when a message is built
(``forbid_multi_line_headers``): with any of Django's backends,
``send_mail()`` raises ``BadHeaderError`` in the view, and Django's
documentation has views catch it ("Invalid header found.") around a subject
taken from a contact form.  ``BackgroundEmailBackend`` never builds the MIME
message in the view: ``send_mail()`` returns 1, and the worker gets the
``BadHeaderError``, which is not a permanent SMTP error, so the job is
retried with backoff for ``SPINACH_EMAIL_MAX_RETRIES`` (about 4 hours by
default) and then fails.  (The injection itself is still refused: nothing
is exposed.)

User's impact: a contact form whose subject holds a newline (pasted text,
or an attacker probing for header injection) answers "sent" and the email
is lost hours later; the view's ``except BadHeaderError`` never runs; the
queue and the logs fill with hopeless retries (an attacker can post many).

Fails today: no exception in the view; the worker schedules a retry.
Suggested fix: build the message in ``send_messages`` (``message.message()``
in ``check_message``), so ``BadHeaderError`` raises (or is swallowed by
``fail_silently``) as with Django's own backends; and treat
``BadHeaderError`` in the worker as permanent (``AbortException``).
"""

from __future__ import annotations

import pytest
from django.core.mail import BadHeaderError, EmailMessage, send_mail

from spinach import ManualClock, MemoryBroker
from spinach.contrib.spinachd import get_engine


@pytest.fixture
def engine(settings, namespace, recorder_for):
    settings.EMAIL_BACKEND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"
    settings.SPINACH_ACTUAL_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SPINACH_EMAIL_ON_COMMIT = False
    settings.SPINACH_NAMESPACE = namespace
    settings.SPINACH_BROKER = MemoryBroker(clock=ManualClock())
    engine = get_engine()
    engine.recorder = recorder_for(namespace)
    yield engine
    engine.stop_workers()


def what_the_worker_did(engine) -> str:
    engine.start_workers(number=1, stop_when_queue_empty=True)
    return ", ".join(
        f"{name} ({kw.get('err')!r})" if "err" in kw else name
        for name, kw in engine.recorder.events
        if name.startswith("job_")
    )


def test_contact_form_subject_with_a_newline_raises_in_the_view(engine):
    subject = "Question about my order\nBcc: everyone@example.com"  # from a form
    try:
        queued = send_mail(subject, "Hello", "site@example.com", ["support@example.com"])
    except BadHeaderError:
        return  # Django's contract: the view can answer "Invalid header found."
    pytest.fail(
        f"send_mail() returned {queued} instead of raising BadHeaderError; the worker then "
        f"did: {what_the_worker_did(engine)}"
    )


def test_extra_header_with_a_newline_raises_in_the_view(engine):
    message = EmailMessage(
        "Hi",
        "Hello",
        "site@example.com",
        ["support@example.com"],
        headers={"X-Customer": "Ann\r\nBcc: everyone@example.com"},
    )
    try:
        queued = message.send()
    except BadHeaderError:
        return
    pytest.fail(
        f"send() returned {queued} instead of raising BadHeaderError; the worker then "
        f"did: {what_the_worker_did(engine)}"
    )
