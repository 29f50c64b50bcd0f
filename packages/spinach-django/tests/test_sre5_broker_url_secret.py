"""SRE5: SPINACH_BROKER given as a Redis URL (as Flask accepts) echoes the password.

``conf.broker()`` refuses a non-broker with ``ImproperlyConfigured(... {value!r})``;
a Django user copying the Flask style ``SPINACH_BROKER = env("REDIS_URL")``
gets the Redis password in the crash log of every process at startup.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from spinach.contrib.spinachd import get_engine

SECRET = "s3cr3t-redis-pa55"


def test_refused_broker_setting_does_not_echo_the_password(settings):
    settings.SPINACH_BROKER = f"redis://:{SECRET}@cache.internal:6379/0"
    with pytest.raises(ImproperlyConfigured) as raised:
        get_engine()
    assert SECRET not in str(raised.value)
