"""SRE5: a broker outage at commit time, with real Redis and real SQLite transactions.

The rows are committed; the jobs cannot be enqueued.  What an operator needs
then is (1) every lost job named in the logs, so it can be replayed, (2) the
other on-commit work of the transaction still done, (3) the request not
turned into an error *after* its data was committed (the client retries the
POST: duplicate rows, duplicate jobs), and (4) ``fail_silently=True`` emails
honoured.
"""

from __future__ import annotations

import logging

import pytest
from django.core.mail import send_mail
from django.db import transaction
from polls.models import Question

from spinach.contrib.spinachd import get_engine, schedule_on_commit

# The Redis broker: skipped in the environment of spinach-django alone.
RedisBroker = pytest.importorskip("spinach.brokers.redis").RedisBroker

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def engine(settings, namespace, fresh_redis):
    settings.EMAIL_BACKEND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"
    settings.SPINACH_NAMESPACE = namespace
    settings.SPINACH_BROKER = RedisBroker(fresh_redis.client(), connection_attempts=1)
    engine = get_engine()
    assert engine.namespace == namespace
    engine.server = fresh_redis
    return engine


def test_every_job_lost_at_commit_is_named_in_the_logs(engine, caplog):
    caplog.set_level(logging.INFO, logger="spinach")
    with transaction.atomic():  # the commit does not raise (see the test below)
        first = Question.objects.create(question_text="first?")
        schedule_on_commit("polls:close_poll", first.id)
        second = Question.objects.create(question_text="second?")
        schedule_on_commit("polls:close_poll", second.id)
        engine.server.stop()  # Redis goes down while the view runs
    # Both rows are committed...
    assert Question.objects.filter(pk__in=[first.id, second.id]).count() == 2
    lost = "\n".join(
        r.getMessage() + (str(r.exc_info[1]) if r.exc_info else "")
        for r in caplog.records
        if r.levelno >= logging.ERROR
    )
    # ...so each of the two lost jobs must be reported, with enough to replay it.
    assert lost.count("polls:close_poll") == 2, lost


def test_other_on_commit_hooks_still_run_when_the_broker_is_down(engine):
    done = []
    with transaction.atomic():  # the commit does not raise (see the test below)
        Question.objects.create(question_text="cache?")
        schedule_on_commit("polls:close_poll", 1)
        transaction.on_commit(lambda: done.append("invalidate cache"))
        engine.server.stop()
    assert done == ["invalidate cache"]


def test_commit_does_not_raise_after_the_data_is_committed(engine):
    with transaction.atomic():
        Question.objects.create(question_text="committed?")
        schedule_on_commit("polls:close_poll", 1)
        engine.server.stop()
    # Reached only if leaving atomic() did not raise although the COMMIT succeeded.
    assert Question.objects.count() == 1


def test_fail_silently_email_does_not_raise_at_commit(engine):
    with transaction.atomic():
        Question.objects.create(question_text="mail?")
        assert send_mail("s", "b", "a@example.com", ["b@example.com"], fail_silently=True) == 1
        engine.server.stop()
    assert Question.objects.count() == 1
