from django.contrib import admin
from django.urls import include, path

from api.api import api
from config.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("metrics", metrics_view, name="metrics"),
    path("teams/", include("teams.urls")),
    path("chat/", include("chat.urls")),
    path("liveblog/", include("liveblog.urls")),
    path("", include("demo.urls")),
]
