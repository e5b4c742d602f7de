from django.contrib.auth import views as auth_views
from django.urls import path

from demo import views

app_name = "demo"

urlpatterns = [
    path("", views.index, name="index"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="demo/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
