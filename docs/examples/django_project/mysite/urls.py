from django.urls import path
from polls import views

urlpatterns = [
    path("polls/<int:question_id>/close/", views.close_poll_view),
]
