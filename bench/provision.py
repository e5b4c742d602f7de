"""Create the benchmark's users and bearer tokens in bulk: ``python -m bench.provision N OUT``.

Writes ``[[user_id, token], ...]`` to OUT. Tokens are made the way ``api.tokens`` makes
them (prefix + 256 random bits, SHA-256 stored), but in two bulk inserts instead of 2 x N.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
from pathlib import Path

import orjson


def provision(n: int) -> list[tuple[int, str]]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from api.models import ApiToken
    from api.tokens import TOKEN_PREFIX

    user_model = get_user_model()
    unusable = make_password(None)
    with transaction.atomic():
        users = user_model.objects.bulk_create(
            [user_model(username=f"bench{i:05d}", password=unusable) for i in range(n)], batch_size=2000
        )
        if any(u.pk is None for u in users):  # backends that do not return ids
            users = list(user_model.objects.filter(username__startswith="bench").order_by("username"))
        tokens = [TOKEN_PREFIX + secrets.token_urlsafe(32) for _ in users]
        ApiToken.objects.bulk_create(
            [
                ApiToken(user=u, name="bench", prefix=t[:12], digest=hashlib.sha256(t.encode()).hexdigest())
                for u, t in zip(users, tokens, strict=True)
            ],
            batch_size=2000,
        )
    return [(u.pk, t) for u, t in zip(users, tokens, strict=True)]


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    n, out = int(sys.argv[1]), Path(sys.argv[2])
    out.write_bytes(orjson.dumps(provision(n)))


if __name__ == "__main__":
    main()
