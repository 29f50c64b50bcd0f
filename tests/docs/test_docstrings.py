"""The code of the docstrings shown in the API reference runs.

``>>>`` blocks run as doctests, with the names the docstrings take for
granted (``spin``, an Engine; ``spinach``, the Flask extension).  ``::``
blocks are fragments of programs: each runs in a subprocess, with the few
lines of context it implies (:data:`CONTEXT`), and every fragment shown in
the reference must have its context here, so a new one fails this test
until it is run.
"""

from __future__ import annotations

import doctest
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field

import pytest

from .helpers import NO_DATADOG_AGENT, clean_env, docstring_blocks


@dataclass(frozen=True)
class Context:
    """What a ``::`` fragment needs around it to run, and how to check it ran."""

    before: str = ""
    after: str = ""
    replace: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


# Presses ^C once a worker started, i.e. once start_workers() handles SIGINT.
STOP_WHEN_STARTED = """
import os, signal
from spinach import signals
_stopping = []
def _stop(namespace, **kwargs):
    if not _stopping:
        _stopping.append(True)
        os.kill(os.getpid(), signal.SIGINT)
signals.worker_started.connect(_stop)
"""

#: The context of each ``::`` fragment, by the first line of the fragment.
CONTEXT = {
    # spinach
    "from spinach import Engine, MemoryBroker, RedisBroker, Tasks, Batch": Context(
        after="assert RedisBroker.__module__.startswith('spinach.brokers.redis')"
    ),
    # spinach.clock: `task` stands for a task of the Engine.
    "clock = ManualClock()": Context(
        before=(
            "from datetime import timedelta\n"
            "import spinach\n"
            "from spinach import ManualClock, MemoryBroker, Tasks\n"
            "tasks = Tasks()\n"
            "task = tasks.task(name='task')(lambda: None)\n"
            "def Engine(*args, **kwargs):\n"
            "    engine = spinach.Engine(*args, **kwargs)\n"
            "    engine.attach_tasks(tasks)\n"
            "    return engine\n"
        ),
        after=(
            "assert spin.broker.future_jobs_count() == 1\n"
            "assert spin.broker.move_future_jobs() is None\n"
            "assert spin.broker.queue_length('spinach') == 1\n"
        ),
    ),
    # spinach.const
    "from spinach.const import DEFAULT_QUEUE, DEFAULT_NAMESPACE": Context(
        after="assert DEFAULT_QUEUE == DEFAULT_NAMESPACE == 'spinach'"
    ),
    # spinach.signals
    "from spinach import signals": Context(
        after=(
            "assert job_started in signals.job_started.receivers_for('prod')\n"
            "signals.job_started.disconnect(job_started)\n"
        )
    ),
    # spinach.brokers.redis: builds the client, connects to nothing yet.
    "from spinach import Engine, RedisBroker": Context(
        after="assert spin.broker.redis.connection_pool.connection_kwargs['port'] == 6379"
    ),
    # spinach.contrib.flask_spinach, single module and application factory
    "from flask import Flask": Context(after="assert 'say_hello' in spinach.get_engine(app).tasks"),
    "spinach = Spinach()": Context(
        before=(
            "import types\n"
            "from flask import Flask\n"
            "from spinach import RedisBroker, Tasks\n"
            "from spinach.contrib.flask_spinach import Spinach\n"
            "auth = types.SimpleNamespace(tasks=Tasks())\n"
            "auth.tasks.task(name='send_welcome_email')(lambda: None)\n"
        ),
        after="assert 'send_welcome_email' in spinach.get_engine(create_app()).tasks",
    ),
    # spinach.contrib.spinachd and its mail module: settings.py lines
    # (the "..." standing for the project's other applications)
    "INSTALLED_APPS = (": Context(
        replace={"    ...\n": "    'django.contrib.contenttypes',\n"},
        after="assert INSTALLED_APPS[-1] == 'spinach.contrib.spinachd'",
    ),
    "EMAIL_BACKEND = 'spinach.contrib.spinachd.mail.BackgroundEmailBackend'": Context(
        after=(
            "from django.conf import settings\n"
            "settings.configure(EMAIL_BACKEND=EMAIL_BACKEND)\n"
            "from django.utils.module_loading import import_string\n"
            "import_string(EMAIL_BACKEND)\n"
            "import_string(SPINACH_ACTUAL_EMAIL_BACKEND)\n"
        )
    ),
    # spinach.contrib.sentry_sdk_spinach: the placeholders of the DSN filled in
    # with a local address where nothing listens (nothing is captured anyway).
    "import sentry_sdk": Context(
        replace={
            "https://<key>@<organisation>.ingest.sentry.io/<project>": ("http://key@127.0.0.1:9/1")
        },
        after=(
            "integration = sentry_sdk.get_client().get_integration(SpinachIntegration)\n"
            "assert integration is not None and integration.send_retries is False\n"
        ),
    ),
    # spinach.contrib.datadog: blocks in start_workers() until ^C.
    "from spinach import Engine, MemoryBroker": Context(
        before=STOP_WHEN_STARTED, env=NO_DATADOG_AGENT
    ),
}

BLOCKS = docstring_blocks()
LITERALS = [b for b in BLOCKS if b.kind == "literal"]
DOCTESTS = [b for b in BLOCKS if b.kind == "doctest"]


def test_every_fragment_has_its_context():
    firsts = [b.text.splitlines()[0] for b in LITERALS]
    missing = [f"{b.owner}: {first}" for b, first in zip(LITERALS, firsts) if first not in CONTEXT]
    assert not missing, f"docstring fragments that no test runs (add them to CONTEXT): {missing}"
    unused = sorted(set(CONTEXT) - set(firsts))
    assert not unused, f"CONTEXT entries for fragments no docstring shows any more: {unused}"


@pytest.mark.parametrize("block", LITERALS, ids=lambda b: b.owner)
def test_fragment_runs(block, tmp_path):
    context = CONTEXT.get(block.text.splitlines()[0])
    if context is None:
        pytest.fail(f"no context for the fragment of {block.owner}")
    text = block.text
    for old, new in context.replace.items():
        assert old in text, f"{old!r} is no longer in the fragment of {block.owner}"
        text = text.replace(old, new)
    script = tmp_path / "fragment.py"
    script.write_text(f"{context.before}\n{text}\n{context.after}\nprint('fragment ran')\n")
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(**context.env),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("fragment ran\n"), result.stdout


def doctest_globals() -> dict[str, object]:
    from flask import Flask

    from spinach import Batch, Engine, MemoryBroker, Tasks
    from spinach.contrib.flask_spinach import Spinach

    spin = Engine(MemoryBroker(), namespace="docstrings")
    spin.task(lambda i: None, name="compute")
    app = Flask("docstrings")
    app.config["SPINACH_BROKER"] = MemoryBroker()
    app.config["SPINACH_NAMESPACE"] = "docstrings-flask"
    return {
        "Batch": Batch,
        "Engine": Engine,
        "MemoryBroker": MemoryBroker,
        "Tasks": Tasks,
        "spin": spin,
        "spinach": Spinach(app),
        "app": app,
    }


@pytest.mark.parametrize("block", DOCTESTS, ids=lambda b: b.owner)
def test_doctest_passes(block):
    test = doctest.DocTestParser().get_doctest(
        textwrap.dedent(block.text), doctest_globals(), block.owner, None, 0
    )
    output: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)
    assert runner.tries == len(test.examples) > 0


def test_the_reference_shows_code():
    # Guards the collection itself: the docstrings above do hold code.
    assert len(LITERALS) >= 10 and len(DOCTESTS) >= 4
