"""The correlation id in `passthrough`: written by us, recognised on status webhooks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rasa_imessage.loopmessage import MAX_PASSTHROUGH_LENGTH, SendRequest
from rasa_imessage.passthrough import decode_conversation, encode_conversation


@pytest.mark.parametrize(
    "conversation", ["+15551234567", "jane@icloud.com", "group:A1B2-C3", 'ünï"cødé}']
)
def test_round_trip(conversation):
    value = encode_conversation(conversation)
    assert value is not None
    assert json.loads(value) == {"rasa_imessage": 1, "conversation": conversation}
    assert decode_conversation(value) == conversation


@pytest.mark.parametrize(
    "passthrough",
    [
        None,
        "",
        "req-77",
        '{"order":"A-1042"}',
        "rasa_imessage",
        '{"rasa_imessage":1',
        '["rasa_imessage", 1]',
        '{"rasa_imessage":2,"conversation":"+1555"}',
        '{"rasa_imessage":"1","conversation":"+1555"}',
        '{"rasa_imessage":1}',
        '{"rasa_imessage":1,"conversation":""}',
        '{"rasa_imessage":1,"conversation":15551234567}',
    ],
)
def test_foreign_or_broken_passthrough_is_not_ours(passthrough):
    assert decode_conversation(passthrough) is None


def test_too_long_for_loopmessage_is_not_written():
    assert encode_conversation("x" * 1000) is None
    wrapping = len(encode_conversation("x") or "") - 1  # what the id is wrapped in
    longest = "x" * (MAX_PASSTHROUGH_LENGTH - wrapping)
    fits = encode_conversation(longest)
    assert fits is not None and len(fits) == MAX_PASSTHROUGH_LENGTH
    assert decode_conversation(fits) == longest
    assert encode_conversation(longest + "x") is None


def test_an_empty_conversation_is_not_written():
    assert encode_conversation("") is None


@given(st.text(min_size=1))
def test_decode_inverts_encode_and_loopmessage_takes_it(conversation):
    value = encode_conversation(conversation)
    if value is None:
        wrapper = len('{"rasa_imessage":1,"conversation":}')
        assert wrapper + len(json.dumps(conversation)) > MAX_PASSTHROUGH_LENGTH
        return
    assert decode_conversation(value) == conversation
    assert SendRequest.create(contact="+15551234567", text="x", passthrough=value).passthrough
