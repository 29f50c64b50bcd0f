"""SRE5: only an option literally named ``password`` is refused from the job payload.

API-based email backends (django-anymail, django-ses, ...) take their secret
as another ``get_connection()`` keyword (``api_key``, ``aws_secret_access_key``,
``secret_key``...).  BackgroundEmailBackend keeps them as "connection options"
and writes them, in clear, into every job stored in Redis.  Real Redis.
"""

from __future__ import annotations

import pytest
from django.core.mail import get_connection, send_mail

from spinach.contrib.spinachd import get_engine

# The Redis broker: skipped in the environment of spinach-django alone.
RedisBroker = pytest.importorskip("spinach.brokers.redis").RedisBroker
pytestmark = pytest.mark.redis

SECRET = "key-0123456789abcdef-SECRET"


@pytest.mark.parametrize("option", ["api_key", "aws_secret_access_key", "secret_key", "token"])
def test_secret_connection_options_never_reach_redis(settings, namespace, fresh_redis, option):
    settings.EMAIL_BACKEND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"
    settings.SPINACH_NAMESPACE = namespace
    settings.SPINACH_BROKER = RedisBroker(fresh_redis.client())
    get_engine()
    try:
        connection = get_connection(**{option: SECRET})
        send_mail("s", "b", "a@example.com", ["b@example.com"], connection=connection)
    except (ValueError, TypeError):
        return  # refused, as a password is: nothing stored
    client = fresh_redis.client()
    read = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"list": lambda k: client.lrange(k, 0, -1),
        b"zset": lambda k: client.zrange(k, 0, -1),
        b"set": client.smembers,
        b"stream": client.xrange,
    }
    dump = b"".join(
        repr(read.get(client.type(key), lambda k: b"")(key)).encode()
        for key in client.scan_iter(count=1000)
    )
    assert SECRET.encode() not in dump, f"{option} stored in clear in Redis"
