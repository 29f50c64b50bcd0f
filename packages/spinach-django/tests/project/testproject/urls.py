from django.urls import path
from polls.views import close_poll_view, open_poll_view

urlpatterns = [
    path("polls/<int:question_id>/close/", close_poll_view),
    path("polls/open/", open_poll_view),
]
