"""The demo page and its sign-in, through Django's whole request path."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from tests.conftest import make_user


def test_the_page_asks_for_a_sign_in_first(db):
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_the_sign_in_form_has_labelled_fields(db):
    page = Client().get("/accounts/login/?next=/").content.decode()
    assert '<label for="id_username">Username</label>' in page
    assert '<label for="id_password">Password</label>' in page
    assert 'autocomplete="current-password"' in page


def test_signing_in_leads_to_the_page_with_the_client_and_the_csrf_token(db):
    make_user(username="alice", password="pw-for-tests")
    client = Client()
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-for-tests", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/").content.decode()
    assert 'src="/static/demo/demo.js"' in page and 'type="module"' in page
    assert '<meta name="csrf-token" content="' in page
    assert 'id="connection"' in page and 'role="status"' in page
    assert 'Signed in as <strong id="username">alice</strong>' in page
    assert "cdn" not in page.lower()


def test_a_wrong_password_shows_an_error(db):
    make_user(username="alice", password="pw-for-tests")
    response = Client().post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()


def test_signing_out_takes_a_post_and_leads_back_to_sign_in(db):
    user = make_user(username="alice")
    client = Client()
    client.force_login(user)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("path", ["realtime/coucou.js", "demo/demo.js", "demo/demo.css"])
def test_static_files_are_found(path):
    assert finders.find(path) is not None
