from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(fast_password_hashing: None) -> None:
    pass


def make_liveblog(*, slug: str = "pycon", title: str = "PyCon live", published: bool = True) -> Any:
    from liveblog.models import Liveblog

    return Liveblog.objects.create(slug=slug, title=title, published=published)


def make_post(*, liveblog: Any, author: Any = None, body: str = "It begins.") -> Any:
    from liveblog.models import Post

    return Post.objects.create(liveblog=liveblog, author=author, body=body)


def make_staff(username: str = "editor") -> Any:
    from tests.conftest import make_user

    user = make_user(username=username)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user
