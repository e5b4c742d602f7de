"""Staff write liveblogs over REST: POST and PATCH posts; everyone else gets 401 or 403."""

from __future__ import annotations

import pytest

from liveblog.models import Post
from tests.api.conftest import CheckedClient
from tests.chat.conftest import channel_events, client_of
from tests.liveblog.conftest import make_liveblog, make_post, make_staff

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_db")]


def write(client, slug: str, body, post_id: int | None = None):
    if post_id is None:
        return client.post(f"/api/liveblogs/{slug}/posts", {"body": body}, content_type="application/json")
    return client.patch(
        f"/api/liveblogs/{slug}/posts/{post_id}", {"body": body}, content_type="application/json"
    )


def test_staff_write_a_post_and_readers_get_it_once_committed(django_capture_on_commit_callbacks):
    editor = make_staff()
    blog = make_liveblog()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = write(client_of(editor), "pycon", "Keynote starts")
    assert response.status_code == 201, response.content
    post = response.json()
    assert {k: post[k] for k in ("liveblog", "author", "body")} == {
        "liveblog": "pycon",
        "author": {"id": editor.pk, "username": "editor"},
        "body": "Keynote starts",
    }
    assert post["id"] == Post.objects.get().pk
    assert channel_events(blog.channel) == []  # not before the commit
    for callback in callbacks:
        callback()
    [event] = channel_events(blog.channel)
    assert (event["channel"], event["type"], event["data"]) == ("liveblog:pycon", "liveblog.post", post)


def test_staff_edit_a_post_and_readers_get_it_again(django_capture_on_commit_callbacks):
    editor = make_staff()
    blog = make_liveblog()
    post = make_post(liveblog=blog, author=editor, body="Keynote starts")
    with django_capture_on_commit_callbacks(execute=True):
        response = write(client_of(editor), "pycon", "Keynote started late", post_id=post.pk)
    assert response.status_code == 200
    assert response.json()["body"] == "Keynote started late"
    assert response.json()["updated"] >= response.json()["created"]
    [event] = channel_events(blog.channel)  # make_post ran outside the capture: its callback waits
    assert (event["data"]["id"], event["data"]["body"]) == (post.pk, "Keynote started late")


def test_non_staff_get_403_and_nothing_is_written(alice):
    blog = make_liveblog()
    post = make_post(liveblog=blog)
    reader = client_of(alice)
    for response in (write(reader, "pycon", "hijack"), write(reader, "pycon", "hijack", post_id=post.pk)):
        assert (response.status_code, response.json()) == (403, {"detail": "only staff may write liveblogs"})
    assert write(reader, "nowhere", "hijack").status_code == 403  # says nothing of what exists
    assert [p.body for p in Post.objects.all()] == ["It begins."]


def test_without_credentials_it_is_401():
    make_liveblog()
    anonymous = CheckedClient()
    assert write(anonymous, "pycon", "hi").status_code == 401
    assert write(anonymous, "pycon", "hi", post_id=1).status_code == 401


def test_unknown_liveblogs_and_posts_are_404_for_staff():
    editor = make_staff()
    make_liveblog(slug="pycon")
    other = make_liveblog(slug="djangocon")
    post = make_post(liveblog=other)
    client = client_of(editor)
    assert write(client, "nowhere", "x").status_code == 404
    assert write(client, "pycon", "x", post_id=post.pk).status_code == 404  # not this liveblog's post
    assert write(client, "pycon", "x", post_id=999_999).status_code == 404
    for huge in ("99999999999999999999999", "0", "-1"):
        assert (
            client.patch(
                f"/api/liveblogs/pycon/posts/{huge}", {"body": "x"}, content_type="application/json"
            ).status_code
            == 422
        )


def test_staff_may_write_an_unpublished_liveblog_before_it_opens():
    editor = make_staff()
    make_liveblog(published=False)
    assert write(client_of(editor), "pycon", "Doors open at nine").status_code == 201


@pytest.mark.parametrize(
    ("body", "type_"),
    [("", "string_too_short"), (" \n ", "string_too_short"), ("x" * 10_001, "string_too_long"),
     (["a list"], "string_type"), ("a \x00 b", "value_error")],
)  # fmt: skip
def test_an_invalid_body_is_422_naming_the_field(body, type_):
    editor = make_staff()
    make_liveblog()
    response = write(client_of(editor), "pycon", body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "body"], type_)


def test_a_request_over_the_api_body_limit_is_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    editor = make_staff()
    make_liveblog()
    response = write(client_of(editor), "pycon", "x" * 2000)
    assert response.status_code == 413
    assert not Post.objects.exists()
