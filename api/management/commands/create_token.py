from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.tokens import create_token


class Command(BaseCommand):
    help = "Create an API bearer token for USERNAME and print it alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="Create the user if missing.")
        parser.add_argument("--name", default="default", help="A label for the token.")

    def handle(self, *args: Any, username: str, create_user: bool, name: str, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get_by_natural_key(username)
        except User.DoesNotExist:
            if not create_user:
                raise CommandError(f"no user {username!r}; pass --create-user to create one") from None
            user = User.objects.create_user(username=username)
            self.stderr.write(f"created user {username!r} (no password: it logs in with tokens only)")
        self.stdout.write(create_token(user=user, name=name))
