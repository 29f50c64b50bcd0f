from django.core.mail import send_mail
from django.http import HttpResponse
from django.shortcuts import get_object_or_404

from spinach.contrib.spinachd import schedule_on_commit

from .models import Question


def close_poll_view(request, question_id):
    question = get_object_or_404(Question, pk=question_id)
    # Enqueued when the request's transaction commits (ATOMIC_REQUESTS),
    # never if it rolls back; at once without a transaction
    schedule_on_commit("polls:close_poll", question.id)
    # Queued as a job by the BackgroundEmailBackend on commit too, sent by a worker
    send_mail("Poll closed", question.text, "polls@example.com", ["owner@example.com"])
    return HttpResponse(f"Closing poll {question.id}")
