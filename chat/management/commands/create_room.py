from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.services import room_create


class Command(BaseCommand):
    help = "Create the chat room SLUG (or update it) and add the named users to its members."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "slug", help="The room's name on the channel chat:<slug> (a-z, 0-9, '.', '_', '-')."
        )
        parser.add_argument("--title", default="", help="Its title (default: the slug, or the title it has).")
        parser.add_argument("--members", nargs="*", default=[], metavar="USERNAME", help="Users to add.")

    def handle(self, *args: Any, slug: str, title: str, members: list[str], **options: Any) -> None:
        try:
            room = room_create(slug=slug, title=title, members=members)
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
            ) from None
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        names = ", ".join(sorted(room.members.values_list("username", flat=True))) or "nobody yet"
        self.stdout.write(f"room {room.slug!r} ({room.title}): {names}; its page is /chat/{room.slug}/")
