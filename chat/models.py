from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinLengthValidator, RegexValidator
from django.db import models

from realtime.groups import NAME

MESSAGE_MAX_CHARS = 2_000

# A room's slug is the name of its channel, chat:<slug>: it must be a valid channel name.
channel_name = RegexValidator(
    NAME.pattern, "lowercase letters, digits, '.', '_' and '-', starting with one of the first two"
)


class RoomQuerySet(models.QuerySet["Room"]):
    def of_member(self, user: Any) -> RoomQuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(members=user)


class Room(models.Model):
    """A chat room: its members talk on ``chat:<slug>``."""

    slug = models.CharField(max_length=100, unique=True, validators=[channel_name])  # may hold dots
    title = models.CharField(max_length=200)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="chat_rooms", blank=True)
    created = models.DateTimeField(auto_now_add=True)

    objects = RoomQuerySet.as_manager()

    class Meta:
        ordering = ["title", "slug"]

    def __str__(self) -> str:
        return self.title or self.slug

    @property
    def channel(self) -> str:
        return f"chat:{self.slug}"


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages"
    )
    body = models.TextField(validators=[MinLengthValidator(1)], max_length=MESSAGE_MAX_CHARS)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]  # newest first, as the API pages them
        indexes = [models.Index(fields=["room", "-id"], name="chat_message_room_newest")]

    def __str__(self) -> str:
        return f"{self.author_id} in {self.room_id}: {self.body[:40]}"

    def as_event(self) -> dict[str, Any]:
        """The message as its ``chat.message`` event and the API show it (JSON)."""
        return {
            "id": self.pk,
            "room": self.room.slug,
            "author": {"id": self.author.pk, "username": self.author.get_username()},
            "body": self.body,
            "created": DjangoJSONEncoder().default(self.created),  # as the API writes it
        }
