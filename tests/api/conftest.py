from __future__ import annotations

from typing import Any

import pytest
from django.test import Client


@pytest.fixture(autouse=True)
def _fast_password_hashing(fast_password_hashing: None) -> None:
    pass


class CheckedClient(Client):
    """A client that fails the test on any 500 and on any traceback in a response."""

    def request(self, **request: Any) -> Any:
        response = super().request(**request)
        assert b"Traceback" not in response.content
        assert response.status_code < 500 or response.status_code == 503, response.content
        return response


@pytest.fixture
def client(alice_token: str) -> CheckedClient:
    return CheckedClient(HTTP_AUTHORIZATION=f"Bearer {alice_token}")


@pytest.fixture
def anonymous() -> CheckedClient:
    return CheckedClient()


def post_job(client: Client, body: Any, **headers: Any) -> Any:
    return client.post("/api/jobs", body, content_type="application/json", headers=headers)
