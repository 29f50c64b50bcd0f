"""A session engine that cannot clear expired sessions (the base class's default)."""

from django.contrib.sessions.backends.base import SessionBase


class SessionStore(SessionBase):
    pass
