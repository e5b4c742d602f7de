"""The socket protocol's frames, built and parsed without a socket."""

from __future__ import annotations

import json

import pytest

from realtime import protocol


def test_control_frames_are_json_objects_with_a_type():
    assert json.loads(protocol.hello(7, "e1")) == {"type": "hello", "seq": 7, "epoch": "e1"}
    resync = {"type": "resync", "seq": 9, "epoch": "e2", "after": 2}
    assert json.loads(protocol.resync(9, "e2", 2)) == resync
    assert json.loads(protocol.pong()) == {"type": "pong"}
    error = {"type": "error", "code": "bad_json", "detail": "why"}
    assert json.loads(protocol.error("bad_json", "why")) == error


@pytest.mark.parametrize("after", [0, 1, protocol.MAX_SEQ])
def test_a_resume_within_range_is_accepted(after):
    assert protocol.parse_client_frame(json.dumps({"type": "resume", "after": after}), 4096) == (
        "resume",
        {"type": "resume", "after": after},
    )


@pytest.mark.parametrize("after", [-1, protocol.MAX_SEQ + 1, 10**30, True, 1.0, "1", None])
def test_a_resume_out_of_range_is_refused(after):
    answer = protocol.parse_client_frame(json.dumps({"type": "resume", "after": after}), 4096)
    assert json.loads(answer)["code"] == "bad_resume"


def test_max_seq_is_the_largest_integer_javascript_holds_exactly():
    assert protocol.MAX_SEQ == 2**53 - 1 == 9007199254740991
    assert len(str(protocol.MAX_SEQ)) == 16  # the consumer's length check on ?after= relies on it


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"type": "ping", "pad": "' + "é" * 30 + '"}', "frame_too_large"),  # counted in bytes, not chars
        ("null", "bad_json"),
        ('{"type": "PING"}', "unknown_type"),
    ],
)
def test_bad_frames_get_an_error_code(text, code):
    assert json.loads(protocol.parse_client_frame(text, 64))["code"] == code


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "subscribe", "channel": "chat:lobby"},
        {"type": "subscribe", "channel": "chat:lobby", "after": 0},
        {"type": "subscribe", "channel": "chat:lobby", "after": 5, "epoch": "9f1c0a3be2d4"},
        {"type": "unsubscribe", "channel": "chat:lobby"},
    ],
)
def test_subscribe_and_unsubscribe_frames_are_accepted(frame):
    assert protocol.parse_client_frame(json.dumps(frame), 4096) == (frame["type"], frame)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "subscribe", "channel": "c:x", "after": -1},
        {"type": "subscribe", "channel": "c:x", "after": "3"},
        {"type": "subscribe", "channel": "c:x", "epoch": "9f1c0a3be2d4"},  # an epoch without a seq
        {"type": "subscribe", "channel": "c:x", "after": 1, "epoch": "NOT HEX"},
    ],
)
def test_a_subscribe_with_a_bad_resume_point_is_refused(frame):
    assert json.loads(protocol.parse_client_frame(json.dumps(frame), 4096))["code"] == "bad_resume"


def test_channel_frames_name_the_channel_and_echo_only_a_plausible_one():
    assert json.loads(protocol.subscribed("chat:a", 3, "e1")) == {
        "type": "subscribed", "channel": "chat:a", "seq": 3, "epoch": "e1",
    }  # fmt: skip
    assert json.loads(protocol.resync(9, "e2", 2, "chat:a"))["channel"] == "chat:a"
    assert json.loads(protocol.unsubscribed("chat:a", "kicked"))["reason"] == "kicked"
    assert json.loads(protocol.channel_error("forbidden", "x" * 500, "no"))["channel"] is None
    assert json.loads(protocol.hello(None, None)) == {"type": "hello", "seq": None, "epoch": None}
