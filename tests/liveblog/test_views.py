"""``/liveblog/<slug>/``: public once published, posts rendered newest first, and where to resume."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from realtime import namespaces
from realtime.namespaces import may_read
from tests.liveblog.conftest import make_liveblog, make_post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_db")]


def embedded(html: str, script_id: str):
    return json.loads(html.split(f'id="{script_id}" type="application/json">')[1].split("</script>")[0])


def test_the_liveblog_namespace_is_public_with_history():
    declared = namespaces.declared()["liveblog"]
    assert (declared.public, declared.history, declared.presence) == (True, 1_000, False)


def test_anyone_may_read_a_published_liveblog_and_nobody_an_unpublished_one(alice):
    from django.contrib.auth.models import AnonymousUser

    make_liveblog(slug="pycon")
    make_liveblog(slug="secret", published=False)
    for user in (AnonymousUser(), alice):
        assert may_read(user, "liveblog:pycon")
        assert not may_read(user, "liveblog:secret") and not may_read(user, "liveblog:nowhere")


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_reader_gets_the_posts_newest_first_and_the_channels_position():
    blog = make_liveblog()
    first = make_post(liveblog=blog, body="first <b>bold</b>")
    second = make_post(liveblog=blog, body="second")
    response = Client().get("/liveblog/pycon/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-channel="liveblog:pycon"' in html and "liveblog/page.js" in html
    assert html.index("second") < html.index("first &lt;b&gt;bold&lt;/b&gt;")  # newest first, escaped
    assert [p["id"] for p in embedded(html, "liveblog-posts")] == [second.pk, first.pk]
    resume = embedded(html, "liveblog-resume")
    assert resume["after"] == 2 and resume["epoch"]  # both posts were published (autocommit)


def test_the_posts_json_is_the_same_posts():
    blog = make_liveblog()
    post = make_post(liveblog=blog)
    body = Client().get("/liveblog/pycon/posts.json").json()
    assert [p["id"] for p in body["posts"]] == [post.pk] and set(body["resume"]) == {"after", "epoch"}


@pytest.mark.parametrize("path", ["/liveblog/{slug}/", "/liveblog/{slug}/posts.json"])
def test_an_unpublished_or_absent_liveblog_is_404(path):
    make_liveblog(slug="secret", published=False)
    for slug in ("secret", "nowhere"):
        assert Client().get(path.format(slug=slug)).status_code == 404


def test_the_page_renders_when_redis_is_away_and_replays_from_zero(monkeypatch):
    from redis.exceptions import ConnectionError

    def unreachable(*args, **kwargs):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr("liveblog.views.read_stream", unreachable)
    make_liveblog()
    response = Client().get("/liveblog/pycon/")
    assert response.status_code == 200
    assert embedded(response.content.decode(), "liveblog-resume") == {"after": 0, "epoch": None}


def test_the_admin_edits_liveblogs_and_posts():
    from django.contrib import admin

    from liveblog.models import Liveblog, Post

    assert admin.site.is_registered(Liveblog) and admin.site.is_registered(Post)
