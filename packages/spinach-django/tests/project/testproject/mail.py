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


from django.core.mail import EmailMessage  # noqa: E402

from spinach.contrib.spinachd.mail import SpinachEmailHook  # noqa: E402


class TaggedMessage(SpinachEmailHook, EmailMessage):
    """A subclass with attributes of its own, as django-anymail's AnymailMessage has."""

    def __init__(self, *args, tags=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tags = list(tags or [])

    def spinach_email_state(self):
        return {"tags": self.tags}

    def spinach_email_restore(self, state):
        self.tags = state["tags"]
