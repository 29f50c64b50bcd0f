"""A failing ``spinachd:send_email`` job does not send its message to Sentry.

The frames of that task hold the whole message (a password-reset link, the
recipient's address).  A Django project with the background email backend
and the Sentry integration, whose actual backend fails, reports the failure
of the job (``send_retries=True``): the report has the task's frames, but
not the message, unless ``send_default_pii=True`` lets it go.

Django and Sentry are set up for good by a process, so the project runs in
a subprocess of its own, with the real SDK and a transport that records the
serialised envelopes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

PROJECT = textwrap.dedent(
    """
    import json
    import sys

    import django
    import sentry_sdk
    from django.conf import settings
    from django.core.mail.backends.base import BaseEmailBackend
    from sentry_sdk.transport import Transport

    from spinach import MemoryBroker
    from spinach.contrib.sentry_sdk_spinach import SpinachIntegration


    class DownEmailBackend(BaseEmailBackend):
        def send_messages(self, email_messages):
            raise ConnectionRefusedError("the SMTP server is down")


    class RecordingTransport(Transport):
        envelopes = []

        def capture_envelope(self, envelope):
            self.envelopes.append(envelope.serialize())


    # On stdin, not in sys.argv, which Sentry's argv integration sends.
    given = json.load(sys.stdin)
    settings.configure(
        INSTALLED_APPS=["spinach.contrib.spinachd"],
        SPINACH_BROKER=MemoryBroker(),
        EMAIL_BACKEND="spinach.contrib.spinachd.mail.BackgroundEmailBackend",
        SPINACH_ACTUAL_EMAIL_BACKEND="__main__.DownEmailBackend",
    )
    django.setup()
    sentry_sdk.init(
        dsn="https://public@sentry.invalid/1",
        transport=RecordingTransport(),
        integrations=[SpinachIntegration(send_retries=True)],
        **given["sentry_options"],
    )

    from django.core.mail import send_mail

    from spinach.contrib.spinachd import get_engine

    # Built at run time: Sentry sends the source lines around each frame.
    link = "https://example.com/reset/" + "-".join(["one", "time", str(6 * 7)])
    send_mail("Reset", "Your link: " + link, "it@example.com", [given["address"]])
    get_engine().start_workers(number=1, stop_when_queue_empty=True)
    wire = b"".join(RecordingTransport.envelopes)
    print(json.dumps({
        "send_email_frame": b'"function":"send_email"' in wire.replace(b" ", b""),
        "link": link.encode() in wire,
        "address": given["address"].encode() in wire,
    }))
    """
)

ADDRESS = "alice.reset@example.com"


def run_project(sentry_options: dict[str, object]) -> dict[str, bool]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DJANGO_SETTINGS_MODULE" and not k.startswith("SENTRY_")
    }
    result = subprocess.run(
        [sys.executable, "-c", PROJECT],
        input=json.dumps({"sentry_options": sentry_options, "address": ADDRESS}),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, bool] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_the_message_of_a_failing_email_job_is_not_sent_to_sentry():
    found = run_project({})
    assert found == {"send_email_frame": True, "link": False, "address": False}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_send_default_pii_lets_it_go():
    found = run_project({"send_default_pii": True})
    assert found == {"send_email_frame": True, "link": True, "address": True}
