"""A real Sentry client whose transport keeps the envelopes instead of sending them.

Nothing of sentry-sdk is mocked: the client, its scopes, integrations,
sampling and serialisation all run; only the last step, the HTTP request,
is replaced by a :class:`sentry_sdk.transport.Transport` subclass that
records what would have been sent (:class:`.helpers.RecordingTransport`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sentry_sdk

from spinach.contrib.sentry_sdk_spinach import SpinachIntegration

from .helpers import DSN, RecordingTransport


@pytest.fixture
def sentry_init() -> Iterator[Callable[..., RecordingTransport]]:
    """Initialise the real SDK with a recording transport; reset it after the test.

    The test body runs in an isolation scope of its own, so that nothing it
    leaves on the scopes reaches the next test.
    """

    def init(**options: Any) -> RecordingTransport:
        transport = RecordingTransport()
        options.setdefault("integrations", [SpinachIntegration()])
        options.setdefault("traces_sample_rate", 1.0)
        options.setdefault("auto_enabling_integrations", False)
        sentry_sdk.init(dsn=DSN, transport=transport, **options)
        return transport

    with sentry_sdk.isolation_scope():
        yield init
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)
