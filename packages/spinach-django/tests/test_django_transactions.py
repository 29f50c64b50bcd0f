"""schedule_on_commit and the email backend follow real database transactions.

On SQLite here; on PostgreSQL too: test_django_transactions_postgres.py runs
this module again with a private PostgreSQL server as the default database.
The tests whose job reads a row have a real worker thread, with a database
connection of its own: it sees only what was committed.
"""

from __future__ import annotations

import os

import pytest
from django.core import mail
from django.core.mail import send_mail
from django.db import connection, transaction
from polls.models import Question

from spinach import Batch
from spinach.contrib.spinachd import get_engine, schedule_batch_on_commit, schedule_on_commit
from spinach.exc import InvalidJobSignatureError, UnknownTaskError
from spinach.job import JobStatus

pytestmark = pytest.mark.django_db(transaction=True)

BACKGROUND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"


@pytest.fixture
def engine(settings, namespace, recorder_for, engines):
    from spinach import MemoryBroker

    settings.SPINACH_NAMESPACE = namespace
    settings.SPINACH_BROKER = MemoryBroker()
    engine = get_engine()  # rebuilt from the overridden settings
    assert engine.namespace == namespace
    engine.recorder = recorder_for(namespace)
    engines.append(engine)  # workers started by a test are stopped after it
    return engine


def test_the_database_is_the_one_of_this_run():
    expected = "postgresql" if os.environ.get("SPINACH_TEST_POSTGRES_HOST") else "sqlite"
    assert connection.vendor == expected


def test_a_running_worker_finds_the_row_once_the_transaction_commits(engine):
    engine.start_workers(number=1, block=False)
    with transaction.atomic():
        question = Question.objects.create(question_text="Lunch?")
        schedule_on_commit("polls:close_poll", question.id)
        assert engine.broker.queue_length("spinach") == 0  # not for the worker yet
    engine.recorder.wait_count("job_finished", 1)
    engine.stop_workers()

    (job,) = engine.recorder.jobs("job_finished")  # once
    assert job.status is JobStatus.SUCCEEDED, engine.recorder.errors("job_failed")
    assert not Question.objects.filter(pk=question.id).exists()  # the job deleted it


def test_a_job_enqueued_before_the_commit_does_not_find_the_row(engine):
    """Why schedule_on_commit exists, and proof that the test above can fail.

    Scheduled at once, the job runs while the transaction is open, in a
    worker whose connection cannot see the uncommitted row.
    """
    engine.start_workers(number=1, block=False)
    with transaction.atomic():
        question = Question.objects.create(question_text="Lunch?")
        engine.schedule("polls:close_poll", question.id)
        engine.recorder.wait_count("job_finished", 1)
    engine.stop_workers()

    (job,) = engine.recorder.jobs("job_finished")
    assert job.status is JobStatus.FAILED
    (error,) = engine.recorder.errors("job_failed")
    assert isinstance(error, Question.DoesNotExist)
    assert Question.objects.filter(pk=question.id).exists()  # committed, never closed


def test_job_is_enqueued_when_the_transaction_commits_and_sees_the_row(engine):
    with transaction.atomic():
        question = Question.objects.create(question_text="Lunch?")
        schedule_on_commit("polls:close_poll", question.id)
        assert engine.broker.queue_length("spinach") == 0  # not before the commit
    assert engine.broker.queue_length("spinach") == 1

    engine.start_workers(number=1, stop_when_queue_empty=True)
    (job,) = engine.recorder.jobs("job_finished")
    assert job.status is JobStatus.SUCCEEDED  # the row existed: no DoesNotExist
    assert not Question.objects.filter(pk=question.id).exists()


def test_nothing_is_enqueued_on_rollback(engine):
    with pytest.raises(RuntimeError), transaction.atomic():
        question = Question.objects.create(question_text="Lunch?")
        schedule_on_commit("polls:close_poll", question.id)
        raise RuntimeError("the view failed")
    assert engine.broker.queue_length("spinach") == 0


def test_savepoint_rollback_drops_only_its_jobs(engine):
    with transaction.atomic():
        kept = Question.objects.create(question_text="kept")
        schedule_on_commit("polls:close_poll", kept.id)
        try:
            with transaction.atomic():  # a savepoint
                dropped = Question.objects.create(question_text="dropped")
                schedule_on_commit("polls:close_poll", dropped.id)
                raise ValueError
        except ValueError:
            pass
        assert engine.broker.queue_length("spinach") == 0
    assert engine.broker.queue_length("spinach") == 1
    assert not Question.objects.filter(pk=dropped.id).exists()

    engine.start_workers(number=1, stop_when_queue_empty=True)
    (job,) = engine.recorder.jobs("job_finished")
    assert job.task_args == (kept.id,)
    assert job.status is JobStatus.SUCCEEDED
    assert not Question.objects.filter(pk=kept.id).exists()


def test_committed_savepoint_keeps_its_jobs_for_the_outer_commit(engine):
    with transaction.atomic():
        with transaction.atomic():  # a savepoint, released
            schedule_on_commit("polls:close_poll", 1)
        assert engine.broker.queue_length("spinach") == 0  # the outer one decides
    assert engine.broker.queue_length("spinach") == 1


def test_batch_is_enqueued_all_at_once_on_commit(engine):
    batch = Batch()
    batch.schedule("polls:close_poll", 1)
    batch.schedule("shop:ship", 7)
    with transaction.atomic():
        schedule_batch_on_commit(batch)
        assert engine.broker.queue_length("spinach") == 0
    assert engine.broker.queue_length("spinach") == 2


def test_outside_a_transaction_the_job_is_enqueued_at_once(engine):
    schedule_on_commit("polls:close_poll", 1)
    assert engine.broker.queue_length("spinach") == 1


def test_mistakes_raise_in_the_view_not_after_the_commit(engine):
    with transaction.atomic():
        with pytest.raises(UnknownTaskError, match="no_such_task"):
            schedule_on_commit("no_such_task")
        with pytest.raises(InvalidJobSignatureError):
            schedule_on_commit("polls:close_poll", 1, 2, 3)
        with pytest.raises(TypeError, match=r"takes a spinach\.Batch"):
            schedule_batch_on_commit(["polls:close_poll"])  # type: ignore[arg-type]


def test_email_of_a_rolled_back_request_is_never_sent(engine, settings):
    settings.EMAIL_BACKEND = BACKGROUND
    mail.outbox = []
    with pytest.raises(RuntimeError), transaction.atomic():
        send_mail("Welcome", "Hi", "a@example.com", ["b@example.com"])
        raise RuntimeError("signup failed")
    assert engine.broker.queue_length("spinach") == 0


def test_email_is_queued_when_the_transaction_commits(engine, settings):
    settings.EMAIL_BACKEND = BACKGROUND
    with transaction.atomic():
        assert send_mail("Welcome", "Hi", "a@example.com", ["b@example.com"]) == 1
        assert engine.broker.queue_length("spinach") == 0
    assert engine.broker.queue_length("spinach") == 1


def test_email_on_commit_can_be_disabled(engine, settings):
    settings.EMAIL_BACKEND = BACKGROUND
    settings.SPINACH_EMAIL_ON_COMMIT = False
    with transaction.atomic():
        send_mail("Welcome", "Hi", "a@example.com", ["b@example.com"])
        assert engine.broker.queue_length("spinach") == 1


def test_email_on_commit_setting_is_checked(engine, settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.EMAIL_BACKEND = BACKGROUND
    settings.SPINACH_EMAIL_ON_COMMIT = "no-such-db"
    with pytest.raises(ImproperlyConfigured, match="SPINACH_EMAIL_ON_COMMIT"):
        send_mail("Welcome", "Hi", "a@example.com", ["b@example.com"])


@pytest.fixture
def atomic_requests(monkeypatch):
    """ATOMIC_REQUESTS on the default database, as Django's own tests turn it on."""
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)


def test_atomic_request_enqueues_when_the_response_is_committed(engine, atomic_requests, client):
    engine.start_workers(number=1, block=False)
    response = client.post("/polls/open/", {"question_text": "Lunch?"})
    assert response.status_code == 201
    engine.recorder.wait_count("job_finished", 1)
    engine.stop_workers()

    (job,) = engine.recorder.jobs("job_finished")
    assert job.task_args == (int(response.content),)
    assert job.status is JobStatus.SUCCEEDED, engine.recorder.errors("job_failed")
    assert not Question.objects.exists()


def test_failed_atomic_request_enqueues_nothing(engine, atomic_requests, client):
    with pytest.raises(RuntimeError, match="after scheduling"):
        client.post("/polls/open/?fail=1", {"question_text": "Lunch?"})
    assert not Question.objects.exists()  # rolled back...
    assert engine.broker.queue_length("spinach") == 0  # ...with its job
