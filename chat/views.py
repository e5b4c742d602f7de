"""A chat room's page: its members talk live on ``chat:<slug>``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from chat.models import MESSAGE_MAX_CHARS, Room


@login_required
def room(request: HttpRequest, slug: str) -> HttpResponse:
    # Members only; anyone else gets the 404 an absent room gets.
    room = get_object_or_404(Room.objects.of_member(request.user), slug=slug)
    return render(request, "chat/room.html", {"room": room, "max_chars": MESSAGE_MAX_CHARS})
