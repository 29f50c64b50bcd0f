"""SRE6: inside a transaction, a job's payload is checked only at commit time, when it is lost.

``schedule_on_commit()`` (and ``schedule_batch_on_commit()``, and the
background email backend inside ``atomic()`` / ``ATOMIC_REQUESTS``)
promises that "the task and its arguments are checked at the call, so a
mistake raises in the view, not after the commit".  Only the task's
*signature* is checked at the call: whether the arguments can travel as JSON
and fit the payload limit is checked by ``Engine.schedule_batch()`` in the
``on_commit`` hook.  There the error is swallowed and logged as a "lost
job": the data is committed, the view answered 200, and the job never exists.

User's impact:

- ``schedule_on_commit("polls:close_poll", question)`` (a model instance
  instead of its id, the most common mistake) raises ``SerializationError``
  in the view outside of a transaction, but inside ``ATOMIC_REQUESTS`` it
  passes every test that does not commit, and in production every such job
  is lost (an ERROR log per request);
- an email with a 1.5 MB attachment (an invoice PDF) sent inside a
  transaction: ``send_mail()`` returns 1, the email is never queued, and
  the log does not even hold the message ("an email: its message is not
  logged"): it cannot be replayed;
- the arguments are captured by reference until the commit: a dict or list
  the view changes after scheduling is enqueued as it is at commit time,
  unlike ``Engine.schedule()``, which captures the job at the call.

Fails today: no exception at the call; the job is logged as lost at commit.
Suggested fix: build the jobs at the call (``Engine._make_batch(batch)``:
signature, JSON, payload limits, encoding) and only hand the ready jobs to
``broker.enqueue_jobs()`` in the ``on_commit`` hook.
"""

from __future__ import annotations

import logging

import pytest
from django.core.mail import EmailMessage
from django.db import transaction
from polls.models import Question

from spinach import MemoryBroker, Tasks
from spinach.contrib.spinachd import get_engine, schedule_on_commit
from spinach.exc import SerializationError

pytestmark = pytest.mark.django_db(transaction=True)

BACKGROUND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"


@pytest.fixture
def engine(settings, namespace):
    settings.EMAIL_BACKEND = BACKGROUND
    settings.SPINACH_NAMESPACE = namespace
    settings.SPINACH_BROKER = MemoryBroker()
    engine = get_engine()
    assert engine.namespace == namespace
    return engine


def lost_jobs(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("Lost job")]


def test_inside_a_transaction_a_model_instance_argument_raises_in_the_view(engine, caplog):
    caplog.set_level(logging.ERROR, logger="spinach.contrib.django")
    question = Question.objects.create(question_text="Lunch?")
    # Outside a transaction the view is told at once (Engine.schedule_batch).
    with pytest.raises(SerializationError):
        schedule_on_commit("polls:close_poll", question)

    raised = None
    with transaction.atomic():
        question = Question.objects.create(question_text="Dinner?")
        try:
            schedule_on_commit("polls:close_poll", question)  # the id was meant
        except SerializationError as exc:
            raised = exc
    assert raised is not None, (
        "schedule_on_commit() accepted an argument JSON cannot carry; the job was then "
        f"lost at commit: {lost_jobs(caplog)}"
    )


def test_inside_a_transaction_a_too_large_email_raises_in_send(engine, caplog):
    caplog.set_level(logging.ERROR, logger="spinach.contrib.django")
    pdf = b"%PDF-1.7 " + bytes(range(256)) * 6000  # about 1.5 MB, over the 1 MiB payload limit

    def invoice() -> EmailMessage:
        message = EmailMessage("Your invoice", "Attached.", "shop@example.com", ["c@example.com"])
        message.attach("invoice.pdf", pdf, "application/pdf")
        return message

    # Outside a transaction the view is told at once.
    with pytest.raises(SerializationError):
        invoice().send()

    sent = None
    raised = None
    with transaction.atomic():
        Question.objects.create(question_text="order placed")
        try:
            sent = invoice().send()
        except SerializationError as exc:
            raised = exc
    assert raised is not None, (
        f"send() returned {sent} (queued) inside the transaction, but the email was lost "
        f"at commit: {lost_jobs(caplog)}; queue length "
        f"{engine.broker.queue_length('spinach')}"
    )


def test_arguments_are_captured_at_the_call(engine, namespace):
    tasks = Tasks()

    @tasks.task(name=f"{namespace}:audit")
    def audit(event):
        pass

    engine.attach_tasks(tasks)
    event = {"order": 7, "status": "created"}
    with transaction.atomic():
        schedule_on_commit(f"{namespace}:audit", event)
        event["status"] = "paid"  # the view goes on with its own dict
    (job,) = engine.broker.get_jobs_from_queue("spinach", 10)
    assert job.task_args == ({"order": 7, "status": "created"},), (
        f"the job was built at commit time from the view's live dict: {job.task_args}"
    )
