"""Documentation 7.3, the view scheduling a task (it returns a response here).

And a view scheduling on commit, for the tests of ATOMIC_REQUESTS.
"""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404

from spinach.contrib.spinachd import schedule_on_commit

from .models import Question
from .tasks import tasks


def close_poll_view(request, question_id):
    question = get_object_or_404(Question, pk=question_id)
    tasks.schedule("polls:close_poll", question.id)
    return HttpResponse("closing")  # the documentation's view stops before this line


def open_poll_view(request):
    """Create a poll and close it in the background: run with ATOMIC_REQUESTS.

    The job is enqueued when the request's transaction commits; ``?fail=1``
    makes the view fail after scheduling it, which rolls the request back.
    """
    question = Question.objects.create(question_text=request.POST["question_text"])
    schedule_on_commit("polls:close_poll", question.id)
    if request.GET.get("fail"):
        raise RuntimeError("the view failed after scheduling")
    return HttpResponse(str(question.id), status=201)
