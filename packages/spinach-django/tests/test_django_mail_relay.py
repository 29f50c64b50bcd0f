"""``spinachd:send_email`` exists only where EMAIL_BACKEND is the background backend.

Otherwise anyone who can push a job to the queues (write access to Redis)
would send any email through the project's own email account.  The
"attacker" here is an Engine on the same broker store that has the task
and pushes a job for it, as one could by writing the payload to Redis;
the actual backend is Django's locmem backend, so an email that a worker
sent would be in ``mail.outbox``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest
from django.apps import apps
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, send_mail
from django.test import override_settings

from spinach import Engine, MemoryBroker
from spinach.brokers.memory import MemoryStore
from spinach.contrib.spinachd import conf
from spinach.contrib.spinachd._email import message_to_data
from spinach.contrib.spinachd.engine import create_engine
from spinach.contrib.spinachd.tasks import SEND_EMAIL_TASK, email_tasks
from spinach.exc import AbortException
from spinach.job import JobStatus

BACKGROUND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"
SUBCLASS = "testproject.mail.ProjectBackgroundEmailBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture
def store(settings, namespace, engines):
    """A broker store shared by the project's worker Engine and an attacker's."""
    store = MemoryStore()
    settings.SPINACH_NAMESPACE = namespace
    settings.SPINACH_ACTUAL_EMAIL_BACKEND = LOCMEM
    mail.outbox = []
    return store


def worker_engine(settings, store, engines, email_backend):
    """The project's Engine, made as Django's startup makes it, with that EMAIL_BACKEND."""
    settings.EMAIL_BACKEND = email_backend
    settings.SPINACH_BROKER = MemoryBroker(store=store)
    engine = create_engine()
    engines.append(engine)
    return engine


def push_send_email(store, namespace, engines):
    """Push a spinachd:send_email job, whatever the project's settings."""
    attacker = Engine(MemoryBroker(store=store), namespace=namespace)
    engines.append(attacker)
    attacker.attach_tasks(email_tasks())
    phishing = EmailMessage(
        "Reset your password",
        "https://evil.example/reset",
        "it@example.com",
        ["victim@example.com"],
    )
    return attacker.schedule(SEND_EMAIL_TASK, message_to_data(phishing))


@pytest.mark.parametrize(
    ("email_backend", "enabled"),
    [
        pytest.param(BACKGROUND, True, id="background"),
        pytest.param(SUBCLASS, True, id="subclass-of-background"),
        pytest.param(LOCMEM, False, id="locmem"),
        pytest.param(SMTP, False, id="smtp"),
        pytest.param("no.such.Backend", False, id="not-importable"),
    ],
)
def test_send_email_task_exists_only_with_the_background_backend(
    settings, store, engines, email_backend, enabled
):
    engine = worker_engine(settings, store, engines, email_backend)

    assert conf.background_email_enabled() is enabled
    assert (SEND_EMAIL_TASK in engine.tasks) is enabled
    assert "polls:close_poll" in engine.tasks  # the rest of the project is there all the same


def test_django_default_email_backend_has_no_send_email_task(settings, store, engines):
    del settings.EMAIL_BACKEND  # Django's default: SMTP
    settings.SPINACH_BROKER = MemoryBroker(store=store)
    engine = create_engine()
    engines.append(engine)

    assert SEND_EMAIL_TASK not in engine.tasks


@pytest.mark.parametrize(
    ("email_backend", "sent"),
    [
        pytest.param(BACKGROUND, True, id="background"),
        pytest.param(LOCMEM, False, id="locmem"),
        pytest.param(SMTP, False, id="smtp"),
    ],
)
def test_a_pushed_send_email_job_is_sent_only_with_the_background_backend(
    settings, store, namespace, engines, recorder, email_backend, sent
):
    worker = worker_engine(settings, store, engines, email_backend)
    job = push_send_email(store, namespace, engines)

    worker.start_workers(number=1, stop_when_queue_empty=True)

    if sent:  # the push works: this is how the background backend sends
        [finished] = recorder.jobs("job_finished")
        assert (finished.id, finished.status) == (job.id, JobStatus.SUCCEEDED)
        assert [m.to for m in mail.outbox] == [["victim@example.com"]]
    else:  # a task the worker does not know: handed back, never run
        assert mail.outbox == []
        assert recorder.count("job_started") == 0
        assert recorder.count("job_failed") == 0
        assert worker.broker.future_jobs_count() == 1  # waits for a worker that knows it


def test_background_backend_unset_after_startup_sends_nothing(
    settings, store, namespace, engines, recorder, caplog
):
    # The Engine is made (the task attached) while EMAIL_BACKEND is the
    # background backend; then the settings change, as at run time.
    worker = worker_engine(settings, store, engines, BACKGROUND)
    assert SEND_EMAIL_TASK in worker.tasks
    push_send_email(store, namespace, engines)

    with (
        override_settings(EMAIL_BACKEND=LOCMEM),
        caplog.at_level(logging.WARNING, logger="spinach.contrib.django"),
    ):
        worker.start_workers(number=1, stop_when_queue_empty=True)

    assert mail.outbox == []
    [finished] = recorder.jobs("job_finished")
    assert finished.status is JobStatus.FAILED
    assert recorder.count("job_schedule_retry") == 0  # refused for good, not retried
    [error] = recorder.errors("job_failed")
    assert isinstance(error, AbortException)
    assert "EMAIL_BACKEND is not" in str(error)
    assert f"Refused a {SEND_EMAIL_TASK} job" in caplog.text
    assert "victim@example.com" not in caplog.text  # nothing of the message is logged


@pytest.fixture
def restart_app(monkeypatch):
    """Run the real ready() of spinachd again; the startup Engine is put back after."""
    config = apps.get_app_config("spinachd")
    monkeypatch.setattr(config, "_engine", config._engine)
    monkeypatch.setattr(config, "_stale", False)

    def restart(**overrides):
        with override_settings(**overrides):
            config.ready()
            started = config.engine
        # A process started with those settings: the Engine that ending the
        # override builds again (an override of a Spinach setting does, see
        # test_django_testing.py) is replaced by the one ready() made.
        config._engine, config._stale = started, False
        return config.engine

    return restart


def test_background_backend_set_after_startup_refuses_to_queue(
    restart_app, settings, namespace, caplog
):
    broker = MemoryBroker()
    engine = restart_app(EMAIL_BACKEND=LOCMEM, SPINACH_BROKER=broker, SPINACH_NAMESPACE=namespace)
    assert SEND_EMAIL_TASK not in engine.tasks
    settings.EMAIL_BACKEND = BACKGROUND  # too late: the Engine has no task for it

    with pytest.raises(ImproperlyConfigured, match="exists only when EMAIL_BACKEND is"):
        send_mail("Subject", "Content", "sender@example.com", ["receiver@example.com"])
    with caplog.at_level(logging.ERROR, logger="spinach.contrib.django"):
        sent = send_mail(
            "Subject", "Content", "sender@example.com", ["r@example.com"], fail_silently=True
        )
    assert sent == 0
    assert "Could not queue 1 emails" in caplog.text
    assert broker.queue_length("spinach") == 0


def test_ready_attaches_the_task_with_the_background_backend(restart_app, namespace):
    engine = restart_app(
        EMAIL_BACKEND=BACKGROUND, SPINACH_BROKER=MemoryBroker(), SPINACH_NAMESPACE=namespace
    )
    assert SEND_EMAIL_TASK in engine.tasks


STARTUP = textwrap.dedent(
    """
    import sys

    import django
    from django.conf import settings

    from spinach import MemoryBroker

    options = dict(INSTALLED_APPS=["spinach.contrib.spinachd"], SPINACH_BROKER=MemoryBroker())
    if sys.argv[1] != "default":
        options["EMAIL_BACKEND"] = sys.argv[1]
    settings.configure(**options)
    django.setup()

    from spinach.contrib.spinachd import get_engine

    print(sorted(get_engine().tasks))
    """
)


@pytest.mark.parametrize(
    ("email_backend", "tasks"),
    [
        pytest.param("default", "[]", id="django-default"),
        pytest.param(BACKGROUND, "['spinachd:send_email']", id="background"),
    ],
)
def test_a_fresh_process_has_the_task_only_with_the_background_backend(email_backend, tasks):
    result = subprocess.run(
        [sys.executable, "-c", STARTUP, email_backend],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == tasks
