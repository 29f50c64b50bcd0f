"""Fixtures of the spinach-flask tests: real Flask applications, no mocks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from spinach import Engine, MemoryBroker
from spinach.contrib.flask_spinach import Spinach

#: Folder holding the example applications, importable as flask_spinach_examples.
TESTAPPS = Path(__file__).parent / "testapps"
if str(TESTAPPS) not in sys.path:
    sys.path.insert(0, str(TESTAPPS))


@pytest.fixture
def make_app(namespace: str, engines: list[Engine]) -> Iterator:
    """Build Flask apps on a MemoryBroker whose workers are stopped after the test."""

    def make(
        spinach: Spinach | None = None, name: str = "testapp", namespace_: str | None = namespace
    ) -> tuple[Flask, Spinach]:
        app = Flask(name)
        app.config["SPINACH_BROKER"] = MemoryBroker()
        if namespace_ is not None:
            app.config["SPINACH_NAMESPACE"] = namespace_
        spinach = spinach or Spinach()
        spinach.init_app(app)
        engines.append(spinach.get_engine(app))
        return app, spinach

    yield make


@pytest.fixture
def recorder_for(request: pytest.FixtureRequest) -> Iterator:
    """Return SignalRecorders (of the root conftest) for any namespace, disconnected after."""
    recorder_class = type(request.getfixturevalue("recorder"))
    made = []

    def make(namespace: str):
        rec = recorder_class(namespace)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.disconnect()
