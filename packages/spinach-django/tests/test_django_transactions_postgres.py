"""The transaction tests again, on a real PostgreSQL that they start themselves.

``schedule_on_commit`` follows the transaction of the default database, and
Django reads ``DATABASES`` once per process: to follow PostgreSQL
transactions, PostgreSQL must be the default database of a process of its
own.  So test_django_transactions.py, which runs on SQLite in this process,
runs a second time in a pytest of its own whose project settings point at the
private server of :func:`postgres_server` (``SPINACH_TEST_POSTGRES_*``, see
testproject/settings.py); each of its tests is reported here as a test of
its own.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

TESTS = Path(__file__).with_name("test_django_transactions.py")
ROOT = Path(__file__).parents[3]  # the monorepo's pyproject.toml: the same pytest options


def _test_names() -> list[str]:
    """The test functions of the module, read without importing it."""
    tree = ast.parse(TESTS.read_text(encoding="utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


@pytest.fixture(scope="module")
def postgres_run(postgres_server, tmp_path_factory) -> tuple[str, dict[str, list[tuple[str, str]]]]:
    """Run the module on PostgreSQL: its output, and each test's outcomes and messages."""
    report = tmp_path_factory.mktemp("postgres-run") / "junit.xml"
    env = {
        **os.environ,
        "SPINACH_TEST_POSTGRES_HOST": postgres_server.host,
        "SPINACH_TEST_POSTGRES_PORT": str(postgres_server.port),
        "SPINACH_TEST_POSTGRES_USER": postgres_server.user,
    }
    # Set by conftest.py in this process; inherited, pytest-django would import
    # the settings before conftest.py puts the project on sys.path.
    env.pop("DJANGO_SETTINGS_MODULE", None)
    run = subprocess.run(
        # Without Hypothesis' plugin (unused here), whose import takes seconds.
        [sys.executable, "-m", "pytest", str(TESTS), "-p", "no:cacheprovider",
         "-p", "no:hypothesispytest", "-q", f"--junitxml={report}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = f"exit code {run.returncode}\n{run.stdout}\n{run.stderr}"
    assert report.exists(), f"the run on PostgreSQL wrote no report:\n{output}"
    outcomes: dict[str, list[tuple[str, str]]] = {}
    for case in ET.parse(report).iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = child.tag
                message = f"{child.get('message', '')}\n{child.text or ''}"
        name = case.get("name", "").split("[")[0]  # one entry per parameter
        outcomes.setdefault(name, []).append((outcome, message))
    return output, outcomes


@pytest.mark.parametrize("name", _test_names())
def test_on_postgresql(postgres_run, name):
    output, outcomes = postgres_run
    assert name in outcomes, f"{name} did not run on PostgreSQL:\n{output}"
    for outcome, message in outcomes[name]:
        assert outcome == "passed", f"{name} {outcome} on PostgreSQL:\n{message}"
