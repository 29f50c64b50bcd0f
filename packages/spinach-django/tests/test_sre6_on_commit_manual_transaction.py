"""SRE6: under manual transaction management, "on commit" jobs are enqueued at once.

``schedule_on_commit()`` decides between "enqueue now" and
``transaction.on_commit()`` by ``connection.in_atomic_block`` alone.  A
connection with autocommit turned off (``transaction.set_autocommit(False)``,
then ``commit()`` / ``rollback()``: bulk imports, management commands,
code ported from other frameworks) is in a transaction without being in an
atomic block.  Django's own ``on_commit()`` refuses that case with
``TransactionManagementError`` ("on_commit() cannot be used in manual
transaction management"); Spinach enqueues the job at once instead.

User's impact: the job runs before the rows it is about are committed
(``DoesNotExist`` in the worker, retried or failed), and is not withdrawn
when the transaction rolls back: a job, or an email (``BackgroundEmailBackend``
with ``SPINACH_EMAIL_ON_COMMIT``, the default), about data that never existed,
e.g. a "welcome" email for a sign-up that was rolled back.

Fails today: the job / email is in the queue after the rollback.
Suggested fix: do what ``on_commit()`` does: when not in an atomic block but
the connection is open with autocommit off (``connection.connection is not
None and not connection.get_autocommit()``), raise
``TransactionManagementError`` (or defer the job to the next commit).
"""

from __future__ import annotations

import pytest
from django.core.mail import send_mail
from django.db import transaction
from django.db.transaction import TransactionManagementError
from polls.models import Question

from spinach import MemoryBroker
from spinach.contrib.spinachd import get_engine, schedule_on_commit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def engine(settings, namespace):
    settings.EMAIL_BACKEND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"
    settings.SPINACH_NAMESPACE = namespace
    settings.SPINACH_BROKER = MemoryBroker()
    engine = get_engine()
    assert engine.namespace == namespace
    return engine


@pytest.fixture
def manual_transaction():
    transaction.set_autocommit(False)
    try:
        yield
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)


def test_job_of_a_rolled_back_manual_transaction_is_not_enqueued(engine, manual_transaction):
    question = Question.objects.create(question_text="imported?")
    try:
        schedule_on_commit("polls:close_poll", question.id)
    except TransactionManagementError:
        pass  # as Django's on_commit(): refusing is a fix too
    assert engine.broker.queue_length("spinach") == 0, (
        "the job was enqueued before the commit of the manual transaction"
    )
    transaction.rollback()
    assert not Question.objects.filter(pk=question.id).exists()
    assert engine.broker.queue_length("spinach") == 0, (
        "the job of a row that was rolled back is in the queue"
    )


def test_email_of_a_rolled_back_manual_transaction_is_not_queued(engine, manual_transaction):
    Question.objects.create(question_text="sign-up")
    try:
        send_mail("Welcome", "Hi", "site@example.com", ["new-user@example.com"])
    except TransactionManagementError:
        pass
    transaction.rollback()
    assert engine.broker.queue_length("spinach") == 0, (
        "the welcome email of a rolled-back sign-up is queued and will be sent"
    )
