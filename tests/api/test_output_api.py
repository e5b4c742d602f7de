"""GET /api/jobs/{id}/output/{key}: the caller's own jobs only, byte offsets, pages cut between characters."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.output import PAGE_BYTES, OutputWriter
from tests.conftest import make_job

pytestmark = pytest.mark.usefixtures("redis_db")

TEXT = "aé€😀 " * 1000  # characters of 1, 2, 3 and 4 bytes


def write(job: Any, key: str, text: str, *, close: bool = True) -> None:
    out = OutputWriter(job_id=str(job.pk), owner_id=job.owner_id, key=key, background=False)
    out.write(text)
    if close:
        out.close()
    else:
        out.flush()


def url(job: Any, key: str = "text", **query: Any) -> str:
    args = "&".join(f"{name}={value}" for name, value in query.items())
    return f"/api/jobs/{job.pk}/output/{key}" + (f"?{args}" if args else "")


def test_the_owner_reads_the_whole_output(client, alice):
    job = make_job(owner=alice)
    write(job, "text", TEXT)
    response = client.get(url(job))
    assert response.status_code == 200
    size = len(TEXT.encode())
    assert response.json() == {
        "key": "text", "offset": 0, "text": TEXT, "next_offset": size, "closed": True, "size": size,
    }  # fmt: skip


def test_an_open_stream_says_not_closed(client, alice):
    job = make_job(owner=alice)
    write(job, "log", "ligne 1\n", close=False)
    body = client.get(url(job, "log")).json()
    assert (body["text"], body["closed"]) == ("ligne 1\n", False)


def test_from_an_offset_in_bytes(client, alice):
    job = make_job(owner=alice)
    write(job, "text", "aé€😀 fin")
    body = client.get(url(job, offset=6)).json()  # after "aé€": 1 + 2 + 3 bytes
    assert (body["offset"], body["text"], body["next_offset"], body["size"]) == (6, "😀 fin", 14, 14)
    body = client.get(url(job, offset=14)).json()
    assert (body["text"], body["next_offset"]) == ("", 14)


def test_pages_are_cut_between_characters(client, alice):
    job = make_job(owner=alice)
    write(job, "text", TEXT)
    for limit in (1, 2, 3, 5, 7, 1000):
        offset, parts = 0, []
        while True:
            body = client.get(url(job, offset=offset, limit=limit)).json()
            assert body["offset"] == offset
            assert len(body["text"].encode()) == body["next_offset"] - offset
            assert len(body["text"].encode()) <= max(limit, 4)
            parts.append(body["text"])
            if body["next_offset"] == body["size"]:
                break
            assert body["next_offset"] > offset
            offset = body["next_offset"]
        assert "".join(parts) == TEXT, limit


def test_one_answer_carries_at_most_one_mib(client, alice):
    job = make_job(owner=alice)
    text = "é" * (PAGE_BYTES // 2 + 1000)  # 1 MiB and 2,000 bytes, of 2-byte characters
    write(job, "text", text)
    first = client.get(url(job)).json()
    assert first["next_offset"] == PAGE_BYTES and first["size"] == len(text.encode())
    second = client.get(url(job, offset=first["next_offset"])).json()
    assert first["text"] + second["text"] == text
    assert client.get(url(job, limit=PAGE_BYTES + 1)).status_code == 422


def test_an_offset_inside_a_character_is_422(client, alice):
    job = make_job(owner=alice)
    write(job, "text", "aé€")
    response = client.get(url(job, offset=2))  # the second byte of "é"
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "offset"] and "UTF-8" in error["msg"]
    assert client.get(url(job, offset=4)).status_code == 422  # inside "€"


@pytest.mark.parametrize("offset", ["7", "-1", "x", "1.5", str(2**60)])
def test_a_bad_offset_is_422(client, alice, offset):
    job = make_job(owner=alice)
    write(job, "text", "abcdef")  # 6 bytes: 7 is past the end
    response = client.get(url(job, offset=offset))
    assert response.status_code == 422, response.content
    assert "detail" in response.json()


def test_another_users_job_is_404(client, bob):
    job = make_job(owner=bob)
    write(job, "text", "secret de bob")
    response = client.get(url(job))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found"}


@pytest.mark.parametrize("key", ["other", "Text", "a" * 65])
def test_an_unknown_key_is_404(client, alice, key):
    job = make_job(owner=alice)
    write(job, "text", "là")
    assert client.get(url(job, key)).status_code == 404


def test_a_key_opened_but_not_written_yet_is_empty(client, alice):
    job = make_job(owner=alice)
    OutputWriter(job_id=str(job.pk), owner_id=alice.pk, key="text", background=False)
    body = client.get(url(job)).json()
    assert (body["text"], body["size"], body["closed"]) == ("", 0, False)


def test_without_credentials_is_401(anonymous, alice):
    job = make_job(owner=alice)
    write(job, "text", "x")
    assert anonymous.get(url(job)).status_code == 401
