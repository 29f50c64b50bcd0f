from django.core.mail import send_mail
from django.http import HttpResponse
from django.shortcuts import get_object_or_404

from .models import Question
from .tasks import tasks


def close_poll_view(request, question_id):
    question = get_object_or_404(Question, pk=question_id)
    tasks.schedule("polls:close_poll", question.id)
    # Queued as a job by the BackgroundEmailBackend, sent by a worker
    send_mail("Poll closed", question.text, "polls@example.com", ["owner@example.com"])
    return HttpResponse(f"Closing poll {question.id}")
