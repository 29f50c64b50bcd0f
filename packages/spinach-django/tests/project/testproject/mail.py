"""Email backends of the test project.

``FlakyEmailBackend`` fails once, like an SMTP server dropping the
connection; ``ProjectBackgroundEmailBackend`` is a project's subclass of
Spinach's background backend.
"""

import smtplib
import threading

from django.core.mail.backends.locmem import EmailBackend

from spinach.contrib.spinachd.mail import BackgroundEmailBackend

_lock = threading.Lock()
failures_left = {"count": 0}


class FlakyEmailBackend(EmailBackend):
    def send_messages(self, messages):
        with _lock:
            if failures_left["count"] > 0:
                failures_left["count"] -= 1
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


class ProjectBackgroundEmailBackend(BackgroundEmailBackend):
    """A project's own subclass of the background backend."""
