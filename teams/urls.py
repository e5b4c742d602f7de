from django.urls import path

from teams import views

app_name = "teams"

urlpatterns = [
    path("<int:team_id>/", views.board, name="board"),
    path("<int:team_id>/jobs.json", views.board_jobs, name="board-jobs"),
]
