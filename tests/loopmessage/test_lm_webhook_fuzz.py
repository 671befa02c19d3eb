"""parse_webhook returns an InboundEvent or raises PayloadError, whatever it is given."""

from __future__ import annotations

import json
from typing import Any, Dict

import lm_samples as S
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rasa_imessage.loopmessage import EventKind, InboundEvent, PayloadError, parse_webhook
from rasa_imessage.loopmessage._compat import parse_obj
from rasa_imessage.loopmessage._webhook import _decode, _normalize

FIELDS = sorted({key for _, _, body in S.WEBHOOKS for key in body} | {"type", "sandbox"})
EVENTS = sorted(
    {"message_inbound", "message_reaction", "message_delivered", "message_failed", "opt-in"}
    | {"message_sent", "message_reply", "conversation_inited", "group_created", "unknown", ""}
)
# Surrogates and control characters included: JSON allows escaping them.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | ANY_TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=25,
)
KEYS = st.sampled_from(FIELDS) | ANY_TEXT
SAMPLES = st.sampled_from([body for _, _, body in S.WEBHOOKS])
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def validated(body: Any) -> InboundEvent:
    """The event as pydantic's full validation makes it, whichever path parse_webhook took."""
    return parse_obj(InboundEvent, _normalize(_decode(body)))


def same_event(one: InboundEvent, other: InboundEvent) -> bool:
    """Field by field, types included (pydantic 1 finds a model equal to its dict); `raw`
    by its keys, since a deeply nested body would exhaust `==`."""
    for name in (set(vars(one)) | set(vars(other))) - {"raw"}:
        mine, theirs = getattr(one, name), getattr(other, name)
        if type(mine) is not type(theirs) or mine != theirs:
            return False
    return type(one.raw) is type(other.raw) and one.raw.keys() == other.raw.keys()


def check(body: Any) -> None:
    """The property: an InboundEvent that keeps its promises, or a one-line PayloadError."""
    try:
        event = parse_webhook(body)
    except PayloadError as exc:
        assert str(exc)
        assert "\n" not in str(exc)
        return
    assert isinstance(event, InboundEvent)
    assert same_event(event, validated(body))  # the unvalidated fast path builds the same
    assert event.api in ("current", "legacy")
    assert isinstance(event.kind, EventKind)
    assert isinstance(event.text, str)
    assert all(isinstance(url, str) for url in event.attachments)
    assert event.webhook_id is None or isinstance(event.webhook_id, str)
    if event.kind in (EventKind.message, EventKind.reaction):
        assert isinstance(event.conversation_id, str)
        assert event.conversation_id


@FUZZ
@given(JSON)
def test_any_json_value(value):
    check(value)
    check(json.dumps(value))


@FUZZ
@given(
    st.sampled_from(["event", "alert_type"]), st.sampled_from(EVENTS), st.dictionaries(KEYS, JSON)
)
def test_webhook_shaped_objects(key, event, fields):
    check({**fields, key: event})
    check(json.dumps({**fields, key: event}).encode())


@FUZZ
@given(SAMPLES, st.dictionaries(st.sampled_from(FIELDS), JSON), st.sets(st.sampled_from(FIELDS)))
def test_mutated_samples(sample, replaced, dropped):
    body: Dict[str, Any] = {k: v for k, v in sample.items() if k not in dropped}
    body.update(replaced)
    check(body)
    check(json.dumps(body))


@FUZZ
@given(SAMPLES, st.data())
def test_samples_with_corrupted_bytes(sample, data):
    raw = bytearray(json.dumps(sample).encode())
    for _ in range(data.draw(st.integers(1, 5))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    check(bytes(raw))


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes(raw):
    check(raw)


@given(st.integers(1, 20_000), st.sampled_from(["[", '{"a":']))
@settings(max_examples=40, deadline=None)
def test_deep_nesting(depth, opener):
    closer = "]" if opener == "[" else "}"
    check(
        '{"event": "message_inbound", "contact": "+1", "x": '
        + opener * depth
        + closer * depth
        + "}"
    )


@pytest.mark.parametrize("field", ["text", "contact", "webhook_id", "subject", "unknown_field"])
def test_huge_strings(field):
    huge = "x" * 5_000_000
    body = {"event": "message_inbound", "contact": "+1", field: huge}
    event = parse_webhook(json.dumps(body).encode())
    assert event.raw[field] == huge


def test_huge_number_is_a_payload_error_or_parsed():
    check('{"event": "message_failed", "error_code": ' + "9" * 5000 + "}")
