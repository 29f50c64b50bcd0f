"""Documentation 7.3, the view scheduling a task (it returns a response here)."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404

from .models import Question
from .tasks import tasks


def close_poll_view(request, question_id):
    question = get_object_or_404(Question, pk=question_id)
    tasks.schedule("polls:close_poll", question.id)
    return HttpResponse("closing")  # the documentation's view stops before this line
