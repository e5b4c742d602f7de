from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from api.models import ApiToken

pytestmark = pytest.mark.django_db


def create_token(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_user_prints_the_token_alone_on_the_last_line():
    out, err = create_token("carol", "--create-user")
    token = out.splitlines()[-1]
    assert token.startswith("cou_")
    assert token == token.strip() and " " not in token
    assert "created user 'carol'" in err
    carol = get_user_model().objects.get(username="carol")
    assert not carol.has_usable_password()


def test_the_token_is_stored_hashed():
    out, _ = create_token("carol", "--create-user", "--name", "laptop")
    token = out.splitlines()[-1]
    stored = ApiToken.objects.get(user__username="carol")
    assert stored.name == "laptop"
    assert stored.digest != token
    assert token not in stored.digest
    assert len(stored.digest) == 64
    assert token.startswith(stored.prefix)
    assert len(stored.prefix) < len(token) // 2


def test_the_printed_token_authenticates(redis_db):
    token = create_token("carol", "--create-user")[0].splitlines()[-1]
    response = Client(headers={"authorization": f"Bearer {token}"}).get("/api/jobs")
    assert response.status_code == 200


def test_an_existing_user_gets_another_token(alice):
    first = create_token("alice")[0].splitlines()[-1]
    second = create_token("alice")[0].splitlines()[-1]
    assert first != second
    assert ApiToken.objects.filter(user=alice).count() == 2


def test_a_missing_user_without_create_user_is_an_error():
    with pytest.raises(CommandError, match="no user 'nobody'"):
        create_token("nobody")
    assert not get_user_model().objects.filter(username="nobody").exists()
    assert not ApiToken.objects.exists()
