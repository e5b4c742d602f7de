from django.urls import path

from liveblog import views

app_name = "liveblog"

urlpatterns = [
    path("<str:slug>/", views.page, name="page"),
    path("<str:slug>/posts.json", views.posts_json, name="posts"),
]
