"""A real ddtrace tracer whose finished traces are recorded and dropped.

ddtrace reads its configuration when it is imported, so the variables that
keep the tests away from any Datadog agent are set here, before the first
import of ddtrace (the root configuration disables ddtrace's own pytest
plugin, which would import it earlier):

- the agent is a Unix socket in a directory that does not exist, so any
  attempt to reach it fails at once, without a packet sent;
- telemetry and remote configuration, which talk to the agent, are off;
- the service variables of the machine do not leak into the tests.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

NO_AGENT = "unix:///nonexistent/spinach-tests/datadog-agent.sock"
SAFE_ENVIRONMENT = {
    "DD_TRACE_AGENT_URL": NO_AGENT,
    "DD_DOGSTATSD_URL": "unix:///nonexistent/spinach-tests/dogstatsd.sock",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    "DD_REMOTE_CONFIGURATION_ENABLED": "false",
    "DD_TRACE_STARTUP_LOGS": "false",
    "DD_TRACE_ENABLED": "true",
}
if "ddtrace" in sys.modules and any(os.environ.get(k) != v for k, v in SAFE_ENVIRONMENT.items()):
    raise RuntimeError(
        "ddtrace was imported before the Datadog tests could configure it to reach no "
        "agent (is its pytest plugin enabled? the root pyproject.toml runs pytest with "
        "-p no:ddtrace); set these variables before starting pytest: "
        + " ".join(f"{k}={v}" for k, v in SAFE_ENVIRONMENT.items())
    )
os.environ.update(SAFE_ENVIRONMENT)
for _variable in ("DD_SERVICE", "DD_SPINACH_SERVICE"):
    os.environ.pop(_variable, None)

from ddtrace.trace import tracer  # noqa: E402

from spinach.contrib import datadog  # noqa: E402

from .helpers import RecordingFilter, connected_receivers  # noqa: E402


@pytest.fixture
def traces() -> Iterator[RecordingFilter]:
    """Record (and drop) the traces finished by the global tracer during the test."""
    recorder = RecordingFilter()
    tracer.configure(trace_processors=[recorder])
    yield recorder
    tracer.configure(trace_processors=[])


@pytest.fixture
def register() -> Iterator[Callable[..., None]]:
    """``register_datadog``, undone after the test; checks that nothing stays connected."""
    namespaces: list[str | None] = []

    def register(**kwargs: Any) -> None:
        datadog.register_datadog(**kwargs)
        namespaces.append(kwargs.get("namespace"))

    yield register
    for namespace in namespaces:
        datadog.unregister_datadog(namespace)
    assert connected_receivers() == []
