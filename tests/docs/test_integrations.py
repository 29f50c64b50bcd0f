"""The integration examples of the docs, and the commands the pages show, run as written.

Each runs in subprocesses of its own (Django and Flask settings, Sentry and
ddtrace configuration are process-wide), with the test environment where
every distribution is installed.  Nothing leaves the machine: Redis is the
session's private server, Sentry reports go to a local HTTP server, and
ddtrace is pointed at an agent socket that does not exist.
"""

from __future__ import annotations

import gzip
import http.server
import os
import shlex
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import (
    COMMANDS_RUN,
    EXAMPLES,
    NO_DATADOG_AGENT,
    clean_env,
    page_commands,
    run,
    run_command,
    run_until,
    subscribed,
)

pytestmark = pytest.mark.skipif(os.name == "nt", reason="stops programs with SIGINT")

BIN = Path(sys.executable).parent


def argv(command: str) -> list[str]:
    """The command of a page as a list, run with the test environment's tools."""
    words = shlex.split(command)
    if words[0] in ("python", "python3"):
        words[0] = sys.executable
    elif (BIN / words[0]).exists():
        words[0] = str(BIN / words[0])
    return words


def documented(test_name: str) -> list[str]:
    """The commands of the pages that ``test_name`` must run."""
    commands = [c for c in page_commands() if COMMANDS_RUN.get(c, "").endswith(f"::{test_name}")]
    assert commands, f"no command of the pages is run by {test_name}"
    return list(dict.fromkeys(commands))


def run_documented_worker_commands(
    test_name: str, folder: Path, env: dict[str, str], redis_url: str, namespace: str
) -> None:
    """Run each worker command of the pages until it serves, then stop it with ^C."""
    for command in documented(test_name):
        out, err, code = run_until(
            argv(command), "Starting", cwd=folder, env=env, ready=subscribed(redis_url, namespace)
        )
        assert code == 0, err
        assert out.endswith("Spinach workers stopped\n"), out
        if "--threads 20" in command:
            assert out.startswith("Starting 20 Spinach workers on queue 'high-priority'")


# -- Flask ---------------------------------------------------------------------


def test_flask_single_module(redis_url, tmp_path):
    folder = EXAMPLES / "flask_single"
    env = clean_env(SPINACH_REDIS_URL=redis_url, PYTHONDONTWRITEBYTECODE="1")
    request = run_command(
        [sys.executable, "-c", "from app import app; print(app.test_client().get('/').text)"],
        cwd=folder,
        env=env,
    )
    assert request.returncode == 0, request.stderr
    assert request.stdout == "Hello from HTTP\n"

    worker = run_command(
        argv("flask --app app spinach --stop-when-queue-empty"), cwd=folder, env=env
    )
    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.splitlines() == [
        "Starting 5 Spinach workers on queue 'spinach' of namespace 'app', ^C to stop",
        "Hello from a task",
        "Spinach workers stopped",
    ]

    run_documented_worker_commands("test_flask_single_module", folder, env, redis_url, "app")


def test_flask_factory(redis_url):
    folder = EXAMPLES / "flask_factory"
    env = clean_env(SPINACH_REDIS_URL=redis_url, PYTHONDONTWRITEBYTECODE="1")
    request = run_command(
        [
            sys.executable,
            "-c",
            "from yourapp.app import create_app; print(create_app().test_client().get('/').json)",
        ],
        cwd=folder,
        env=env,
    )
    assert request.returncode == 0, request.stderr
    assert request.stdout == "{'user_id': 42}\n"

    worker = run_command(
        argv("flask --app yourapp.app spinach --stop-when-queue-empty"), cwd=folder, env=env
    )
    assert worker.returncode == 0, worker.stderr
    assert "Sending welcome email to user 42 from yourapp.app" in worker.stdout.splitlines()

    for command in documented("test_flask_factory"):
        out, err, code = run_until(
            argv(command),
            "Starting",
            cwd=folder,
            env=env,
            ready=subscribed(redis_url, "yourapp.app"),
        )
        assert code == 0, err
        assert out.startswith(
            "Starting 5 Spinach workers on queue 'spinach' of namespace 'yourapp.app'"
        )


# -- Django --------------------------------------------------------------------


def test_django_project(redis_url, tmp_path):
    folder = EXAMPLES / "django_project"
    mail = tmp_path / "mail"
    env = {
        **clean_env(),
        "SPINACH_REDIS_URL": redis_url,
        "MYSITE_DATABASE": str(tmp_path / "db.sqlite3"),
        "MYSITE_EMAIL_DIR": str(mail),
        "PYTHONDONTWRITEBYTECODE": "1",
    }

    def manage(*args: str, timeout: float = 120):
        result = run_command(
            [sys.executable, "manage.py", *args], cwd=folder, env=env, timeout=timeout
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    manage("migrate", "--verbosity", "0")
    closing = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.test import Client\n"
        "from polls.models import Question\n"
        "question = Question.objects.create(text='Tabs or spaces?')\n"
        "print(Client().get(f'/polls/{question.id}/close/').content.decode())",
    )
    assert closing.stdout.strip() == "Closing poll 1"
    assert not mail.exists() or not list(mail.iterdir())  # not sent by the view itself

    worker = manage("spinach", "--stop-when-queue-empty")
    assert worker.stdout.splitlines() == [
        "Starting 5 Spinach workers on queue 'spinach' of namespace 'mysite', ^C to stop",
        "Closed poll 1",
        "Spinach workers stopped",
    ]
    [sent] = mail.iterdir()
    message = sent.read_text()
    assert "Subject: Poll closed" in message and "Tabs or spaces?" in message
    left = manage(
        "shell",
        "--no-imports",
        "-c",
        "from polls.models import Question\nprint(Question.objects.count())",
    )
    assert left.stdout.strip() == "0"

    run_documented_worker_commands("test_django_project", folder, env, redis_url, "mysite")


# -- Sentry --------------------------------------------------------------------


class _SentryIngest(http.server.BaseHTTPRequestHandler):
    envelopes: list[bytes]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.envelopes.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sentry_ingest() -> Iterator[tuple[str, list[bytes]]]:
    """A local HTTP server standing for Sentry; yields a DSN and the envelopes received."""
    envelopes: list[bytes] = []
    handler = type("Handler", (_SentryIngest,), {"envelopes": envelopes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://public@127.0.0.1:{server.server_address[1]}/1", envelopes
    server.shutdown()
    server.server_close()


def test_sentry_reports_a_failed_job(sentry_ingest):
    dsn, envelopes = sentry_ingest
    result = run("sentry_setup.py", env={"SENTRY_DSN": dsn})
    assert result.returncode == 0, result.stderr
    received = b"\n".join(envelopes).decode()
    assert '"type":"ValueError"' in received.replace(" ", "")
    assert "account 7 has a malformed address book" in received
    assert '"spinach.task":"import_contacts"' in received.replace(" ", "")
    assert "queue.task.spinach" in received  # the job's transaction
    # No send_default_pii: the frames of the job come without their variables.
    assert '"function":"import_contacts"' in received.replace(" ", "")
    assert '"vars"' not in received


# -- Datadog -------------------------------------------------------------------


def test_datadog_example_runs():
    env = clean_env(**NO_DATADOG_AGENT)
    env = {**env, "DD_TRACE_DEBUG": "true"}
    proc_out, err, code = run_until(
        [sys.executable, str(EXAMPLES / "datadog_setup.py")], "Computed 5 + 3 = 8", env=env
    )
    assert code == 0, err
    assert "Computed 5 + 3 = 8" in proc_out
    # ddtrace's debug log shows the span of the job being finished.
    assert "spinach.task" in err and "compute" in err, err[-3000:]


def test_every_command_of_the_pages_is_run_by_a_test():
    commands = page_commands()
    assert commands
    missing = sorted(set(commands) - set(COMMANDS_RUN))
    assert not missing, f"commands shown in the docs that no test runs: {missing}"
    unused = sorted(set(COMMANDS_RUN) - set(commands))
    assert not unused, f"commands registered in tests/docs/helpers.py but not shown: {unused}"
