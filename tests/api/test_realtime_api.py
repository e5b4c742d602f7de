"""POST /api/realtime/ticket: a single-use socket ticket for the caller."""

from __future__ import annotations

import asyncio

import pytest
from django.test import Client

from realtime import tickets

pytestmark = pytest.mark.usefixtures("redis_db")


def test_a_bearer_caller_gets_a_ticket_for_itself(alice, alice_token):
    response = Client().post("/api/realtime/ticket", headers={"authorization": f"Bearer {alice_token}"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ticket", "expires_in"}
    assert body["expires_in"] == 60
    assert asyncio.run(tickets.aredeem(body["ticket"])) == alice.pk


def test_each_call_gets_a_new_ticket(alice_token):
    client = Client(headers={"authorization": f"Bearer {alice_token}"})
    first, second = (client.post("/api/realtime/ticket").json()["ticket"] for _ in range(2))
    assert first != second


def test_a_session_caller_needs_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    refused = client.post("/api/realtime/ticket")
    assert refused.status_code == 403
    client.get("/")  # the page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post("/api/realtime/ticket", headers={"x-csrftoken": token})
    assert response.status_code == 200
    assert asyncio.run(tickets.aredeem(response.json()["ticket"])) == alice.pk


@pytest.mark.parametrize("authorization", [None, "Bearer cou_wrong"])
def test_no_ticket_without_credentials(db, authorization):
    headers = {"authorization": authorization} if authorization else {}
    response = Client(headers=headers).post("/api/realtime/ticket")
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


def test_only_post(alice_token):
    response = Client(headers={"authorization": f"Bearer {alice_token}"}).get("/api/realtime/ticket")
    assert response.status_code == 405


def test_the_ticket_endpoint_is_in_the_openapi_document(db):
    schema = Client().get("/api/openapi.json").json()
    assert "post" in schema["paths"]["/api/realtime/ticket"]
