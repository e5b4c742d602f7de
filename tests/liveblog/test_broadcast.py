"""Every saved post is broadcast on ``liveblog:<slug>``: on commit only, wherever it is saved."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from liveblog.models import Post
from tests.chat.conftest import channel_events
from tests.liveblog.conftest import make_liveblog, make_post, make_staff

pytestmark = pytest.mark.usefixtures("redis_db")


@pytest.mark.django_db(transaction=True)
def test_a_post_is_broadcast_after_its_commit_and_never_after_a_rollback():
    blog = make_liveblog()
    with pytest.raises(RuntimeError), transaction.atomic():
        make_post(liveblog=blog, body="draft that never was")
        raise RuntimeError("rolled back")
    assert channel_events(blog.channel) == []

    with transaction.atomic():
        post = make_post(liveblog=blog, body="first")
        assert channel_events(blog.channel) == []
    post.body = "first, edited"
    post.save()
    events = channel_events(blog.channel)
    assert [(e["seq"], e["type"], e["data"]["id"], e["data"]["body"]) for e in events] == [
        (1, "liveblog.post", post.pk, "first"),
        (2, "liveblog.post", post.pk, "first, edited"),
    ]
    assert events[0]["data"]["author"] is None

    post_id = post.pk
    post.delete()
    assert channel_events(blog.channel)[-1]["type"] == "liveblog.post.deleted"
    assert channel_events(blog.channel)[-1]["data"] == {"id": post_id}


@pytest.mark.django_db(transaction=True)
def test_deleting_a_liveblog_with_posts_works():
    blog = make_liveblog()
    make_post(liveblog=blog)
    blog.delete()
    assert [e["type"] for e in channel_events("liveblog:pycon")] == ["liveblog.post", "liveblog.post.deleted"]


@pytest.mark.django_db(transaction=True)
def test_a_post_saved_in_the_admin_is_signed_and_broadcast(client):
    editor = make_staff()
    editor.is_superuser = True
    editor.save()
    blog = make_liveblog()
    client.force_login(editor)
    response = client.post("/admin/liveblog/post/add/", {"liveblog": blog.pk, "body": "From the admin"})
    assert response.status_code == 302, response.content.decode()[:2000]
    post = Post.objects.get()
    assert post.author == editor
    [event] = channel_events(blog.channel)
    assert (event["data"]["body"], event["data"]["author"]["username"]) == ("From the admin", "editor")

    # The liveblog's own page in the admin edits its posts inline: broadcast too.
    response = client.post(
        f"/admin/liveblog/liveblog/{blog.pk}/change/",
        {
            "slug": "pycon", "title": "PyCon live", "published": "on",
            "posts-TOTAL_FORMS": "2", "posts-INITIAL_FORMS": "1", "posts-MIN_NUM_FORMS": "0",
            "posts-MAX_NUM_FORMS": "1000",
            "posts-0-id": str(post.pk), "posts-0-liveblog": str(blog.pk),
            "posts-0-body": "From the admin, edited",
            "posts-1-id": "", "posts-1-liveblog": str(blog.pk), "posts-1-body": "A second one, inline",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    bodies = [e["data"]["body"] for e in channel_events(blog.channel)]
    assert bodies == ["From the admin", "From the admin, edited", "A second one, inline"]
    assert {p.author for p in Post.objects.all()} == {editor}


@pytest.mark.django_db(transaction=True)
def test_a_post_is_saved_even_when_redis_is_away(monkeypatch, caplog):
    from redis.exceptions import ConnectionError

    def unreachable(*args, **kwargs):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr("realtime.channels.append", unreachable)
    blog = make_liveblog()
    with caplog.at_level(logging.ERROR), transaction.atomic():
        make_post(liveblog=blog, body="written anyway")
    assert Post.objects.get().body == "written anyway"
    assert "Redis is away" in caplog.text
