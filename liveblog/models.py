from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import RegexValidator
from django.db import models

from realtime.groups import NAME

POST_MAX_CHARS = 10_000

# A liveblog's slug is the name of its channel, liveblog:<slug>: it must be a valid channel name.
channel_name = RegexValidator(
    NAME.pattern, "lowercase letters, digits, '.', '_' and '-', starting with one of the first two"
)


class LiveblogQuerySet(models.QuerySet["Liveblog"]):
    def published(self) -> LiveblogQuerySet:
        return self.filter(published=True)


class Liveblog(models.Model):
    """A liveblog: its posts are broadcast on ``liveblog:<slug>``, readable by anyone once published."""

    slug = models.CharField(max_length=100, unique=True, validators=[channel_name])  # may hold dots
    title = models.CharField(max_length=200)
    published = models.BooleanField(default=False, help_text="Readers (signed in or not) may follow it.")
    created = models.DateTimeField(auto_now_add=True)

    objects = LiveblogQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.title or self.slug

    @property
    def channel(self) -> str:
        return f"liveblog:{self.slug}"


class Post(models.Model):
    liveblog = models.ForeignKey(Liveblog, on_delete=models.CASCADE, related_name="posts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="liveblog_posts",
    )
    body = models.TextField(max_length=POST_MAX_CHARS)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]  # newest first, as readers see them
        indexes = [models.Index(fields=["liveblog", "-created", "-id"], name="liveblog_post_newest")]

    def __str__(self) -> str:
        return self.body[:60]

    def as_event(self) -> dict[str, Any]:
        """The post as its ``liveblog.post`` event, the API and the page show it (JSON)."""
        encode = DjangoJSONEncoder().default
        author = self.author
        return {
            "id": self.pk,
            "liveblog": self.liveblog.slug,
            "author": None if author is None else {"id": author.pk, "username": author.get_username()},
            "body": self.body,
            "created": encode(self.created),
            "updated": encode(self.updated),
        }
