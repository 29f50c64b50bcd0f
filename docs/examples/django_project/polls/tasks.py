from spinach import Tasks

from .models import Question

tasks = Tasks()


@tasks.task(name="polls:close_poll")
def close_poll(question_id: int):
    Question.objects.get(pk=question_id).delete()
    print(f"Closed poll {question_id}")
