from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class TeamQuerySet(models.QuerySet["Team"]):
    def of_member(self, user: Any) -> TeamQuerySet:
        return self.filter(members=user)


class Team(models.Model):
    """A group of users who share one channel, ``team:<id>``: its job board and its presence."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def channel(self) -> str:
        return f"team:{self.pk}"
