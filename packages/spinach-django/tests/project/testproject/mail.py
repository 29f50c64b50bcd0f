"""An email backend failing once, like an SMTP server dropping the connection."""

import smtplib
import threading

from django.core.mail.backends.locmem import EmailBackend

_lock = threading.Lock()
failures_left = {"count": 0}


class FlakyEmailBackend(EmailBackend):
    def send_messages(self, messages):
        with _lock:
            if failures_left["count"] > 0:
                failures_left["count"] -= 1
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)
