"""What the documentation shows, found where the docs tests and the site check agree.

- Examples are files of ``docs/examples/`` included into the pages; the
  tests that run them register the files in :data:`EXAMPLES_RUN`.
- Commands are the ``$ ...`` lines of ``console`` blocks; :func:`page_commands`
  reads them from the pages, and every command must be run by a test
  (:data:`COMMANDS_RUN` says which).
- Docstrings of the API reference may hold ``::`` literal blocks and ``>>>``
  doctest blocks; :func:`docstring_blocks` finds them for the test that runs
  them.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"

#: Every file of docs/examples/ and the test of tests/docs that runs it.
EXAMPLES_RUN = {
    "following_jobs.py": "test_examples.py::test_following_jobs",
    "failed_jobs.py": "test_examples.py::test_failed_jobs",
    "quickstart.py": "test_examples.py::test_quickstart",
    "tasks_registry.py": "test_examples.py::test_tasks_registry",
    "engine_tasks.py": "test_examples.py::test_engine_tasks",
    "backoff.py": "test_examples.py::test_backoff",
    "retries.py": "test_examples.py::test_retries",
    "concurrency.py": "test_examples.py::test_concurrency",
    "periodic.py": "test_examples.py::test_periodic",
    "batch.py": "test_examples.py::test_batch",
    "validation.py": "test_examples.py::test_validation",
    "job_lifecycle.py": "test_examples.py::test_job_lifecycle",
    "future_jobs.py": "test_examples.py::test_future_jobs",
    "namespaces.py": "test_examples.py::test_namespaces_on_redis",
    "redis_broker.py": "test_examples.py::test_redis_broker",
    "queues.py": "test_examples.py::test_queues",
    "asyncio_workers.py": "test_examples.py::test_asyncio_workers",
    "payload_limits.py": "test_examples.py::test_payload_limits",
    "asyncio_batch.py": "test_examples.py::test_asyncio_batch",
    "signals_connect.py": "test_examples.py::test_signals",
    "job_context.py": "test_examples.py::test_job_context",
    "cron.py": "test_examples.py::test_cron",
    "unique.py": "test_examples.py::test_unique",
    "rate_limit.py": "test_examples.py::test_rate_limit",
    "queue_priority.py": "test_examples.py::test_queue_priority",
    "inspection.py": "test_examples.py::test_inspection",
    "testing.py": "test_examples.py::test_testing_example",
    "logging_basic.py": "test_examples.py::test_logging_basic",
    "logging_dictconfig.py": "test_examples.py::test_logging_dictconfig",
    "redis.conf": "test_examples.py::test_redis_conf",
    "sentry_setup.py": "test_integrations.py::test_sentry_reports_a_failed_job",
    "datadog_setup.py": "test_integrations.py::test_datadog_example_runs",
    "flask_single/app.py": "test_integrations.py::test_flask_single_module",
    "flask_factory/yourapp/__init__.py": "test_integrations.py::test_flask_factory",
    "flask_factory/yourapp/app.py": "test_integrations.py::test_flask_factory",
    "flask_factory/yourapp/auth.py": "test_integrations.py::test_flask_factory",
    **{
        f"django_project/{name}": "test_integrations.py::test_django_project"
        for name in (
            "manage.py",
            "mysite/__init__.py",
            "mysite/settings.py",
            "mysite/urls.py",
            "polls/__init__.py",
            "polls/models.py",
            "polls/tasks.py",
            "polls/views.py",
            "polls/migrations/__init__.py",
            "polls/migrations/0001_initial.py",
        )
    },
}

#: Every command the pages show, and the test that runs it as written.
COMMANDS_RUN = {
    "pip install spinach-core": "tests/packaging",
    "pip install spinach-core spinach-redis": "tests/packaging",
    'pip install "spinach-core[redis]"': "tests/packaging",
    'pip install "spinach-core[redis,sentry]"': "tests/packaging",
    "pip install spinach-flask": "tests/packaging",
    "pip install spinach-django": "tests/packaging",
    "pip install spinach-sentry": "tests/packaging",
    "pip install spinach-datadog": "tests/packaging",
    "pip uninstall spinach": "tests/packaging/test_original_spinach.py",
    "pip install --force-reinstall spinach-core spinach-redis": (
        "tests/packaging/test_original_spinach.py"
    ),
    "flask --app app spinach": "test_integrations.py::test_flask_single_module",
    "flask --app app spinach --queue high-priority --threads 20": (
        "test_integrations.py::test_flask_single_module"
    ),
    "flask --app yourapp.app spinach": "test_integrations.py::test_flask_factory",
    "python manage.py spinach": "test_integrations.py::test_django_project",
    "python manage.py spinach --queue high-priority --threads 20": (
        "test_integrations.py::test_django_project"
    ),
    "python3 scripts/test": "test_commands.py::test_ci_runs_the_documented_commands",
    ".tools/bin/hatch run docs:build": "test_commands.py::test_ci_runs_the_documented_commands",
    "python3 scripts/release-check --all": (
        "test_commands.py::test_ci_runs_the_documented_commands"
    ),
    "python3 scripts/release-check spinach-sentry": "tests/packaging/test_release_check.py",
}

_FENCE = re.compile(
    r"^(?P<indent> *)(?P<fence>`{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=fence) *$",
    re.M | re.S,
)


def pages() -> list[Path]:
    """The Markdown pages of the site."""
    return sorted(
        p for p in DOCS.rglob("*.md") if "_build" not in p.parts and EXAMPLES not in p.parents
    )


def page_commands() -> list[str]:
    """Every ``$ command`` of the ``console`` blocks of the pages, in order."""
    commands = []
    for page in pages():
        for match in _FENCE.finditer(page.read_text()):
            if match["info"].strip() == "console":
                body = "\n".join(
                    line[len(match["indent"]) :] for line in match["body"].splitlines()
                )
                commands += [
                    line[2:].strip() for line in body.splitlines() if line.startswith("$ ")
                ]
    return commands


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what other suites set for themselves.

    The spinach-django tests set ``DJANGO_SETTINGS_MODULE`` in this process;
    Datadog and Sentry read variables of their own.  A program of the docs
    must run as a user's would.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")
        and not k.startswith(("DD_", "SENTRY_"))
    }
    return {**env, **extra}


def run_command(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output as text."""
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def run(name: str, env: dict[str, str] | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(**(env or {})),
        cwd=EXAMPLES,
        check=False,
    )


def run_until(
    command: list[str],
    expected: str,
    cwd: Path = EXAMPLES,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    ready: Callable[[], bool] | None = None,
) -> tuple[str, str, int]:
    """Run a blocking program, press ^C once ``expected`` appeared on stdout.

    ``env`` is the whole environment of the program (default: this one's).
    With ``ready``, ^C is pressed only once it also returns true (checked
    until ``timeout``): a line printed before ``start_workers()`` does not
    mean that its signal handlers are installed yet.
    """
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=clean_env() if env is None else env,
    )
    seen = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if expected in line:
                break
        deadline = time.monotonic() + timeout
        while ready is not None and not ready():
            assert time.monotonic() < deadline, "the program never became ready"
            time.sleep(0.02)  # polling another process's state, with a deadline
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
        proc.wait()
    return "".join(seen) + out, err, proc.returncode


def subscribed(redis_url: str, namespace: str) -> Callable[[], bool]:
    """Whether a worker of ``namespace`` listens on Redis: it started its workers.

    The Redis broker subscribes to its namespace's channel when the workers
    start, after ``start_workers()`` installed its SIGINT handler.
    """
    import redis

    def check() -> bool:
        with redis.Redis.from_url(redis_url) as client:
            return bool(client.pubsub_channels(f"{{{namespace}}}:*"))

    return check


def documented_modules() -> list[str]:
    """The modules whose docstrings the API reference shows (``automodule``)."""
    found = []
    for page in sorted((DOCS / "api").glob("*.rst")):
        found += re.findall(r"^\.\. automodule:: (\S+)", page.read_text(), re.M)
    return found


@dataclass(frozen=True)
class DocstringBlock:
    """A code block of a docstring shown in the API reference."""

    module: str
    owner: str  # qualified name of the object whose docstring holds it
    kind: str  # "literal" (a ``::`` block) or "doctest" (``>>>`` lines)
    text: str


def _documented_objects(module_name: str) -> Iterator[tuple[str, object]]:
    module = importlib.import_module(module_name)
    yield module_name, module
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name, None)
        if obj is None or (inspect.ismodule(obj)):
            continue
        yield f"{module_name}.{name}", obj
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if not attr.startswith("_") or attr == "__init__":
                    yield f"{module_name}.{name}.{attr}", getattr(value, "fget", value)


@functools.cache
def docstring_blocks() -> list[DocstringBlock]:
    """The ``::`` and ``>>>`` blocks of the docstrings the API reference shows.

    They are collected in a subprocess: importing every documented module
    (ddtrace, sentry-sdk, Django...) into the test process would configure
    those libraries before the tests that need them do.
    """
    result = subprocess.run(
        [sys.executable, __file__],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(**NO_DATADOG_AGENT),
        check=True,
    )
    return [DocstringBlock(**block) for block in json.loads(result.stdout)]


#: Keeps ddtrace away from any Datadog agent, in the subprocesses that import it.
NO_DATADOG_AGENT = {
    "DD_TRACE_AGENT_URL": "unix:///nonexistent/spinach-docs/datadog-agent.sock",
    "DD_DOGSTATSD_URL": "unix:///nonexistent/spinach-docs/dogstatsd.sock",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    "DD_REMOTE_CONFIGURATION_ENABLED": "false",
    "DD_TRACE_STARTUP_LOGS": "false",
}


def _collect_docstring_blocks() -> list[DocstringBlock]:
    from docutils import nodes
    from docutils.core import publish_doctree
    from docutils.utils import Reporter

    blocks: list[DocstringBlock] = []
    seen: set[tuple[str, str]] = set()
    for module_name in documented_modules():
        for owner, obj in _documented_objects(module_name):
            doc = inspect.getdoc(obj) if not isinstance(obj, (str, int, float)) else None
            if not doc or (owner, doc) in seen:
                continue
            seen.add((owner, doc))
            tree = publish_doctree(
                doc, settings_overrides={"report_level": Reporter.SEVERE_LEVEL + 1}
            )
            for node in tree.findall(nodes.literal_block):
                blocks.append(DocstringBlock(module_name, owner, "literal", node.astext()))
            for node in tree.findall(nodes.doctest_block):
                blocks.append(DocstringBlock(module_name, owner, "doctest", node.astext()))
    unique: dict[tuple[str, str], DocstringBlock] = {}
    for block in blocks:
        unique.setdefault((block.kind, block.text), block)
    return list(unique.values())


if __name__ == "__main__":
    print(json.dumps([dataclasses.asdict(block) for block in _collect_docstring_blocks()]))
