"""Webhook parsing and response models, on the reference's sample payloads."""

from __future__ import annotations

import json
from typing import Any, Dict

import lm_samples as S
import pytest

from rasa_imessage.loopmessage import (
    EventKind,
    Group,
    InboundEvent,
    Language,
    PayloadError,
    Speech,
    model_copy,
    model_dump,
    parse_obj,
    parse_webhook,
)
from rasa_imessage.loopmessage._models import SendResult, parse_send_result, parse_status


@pytest.mark.parametrize(("name", "api", "body"), S.WEBHOOKS, ids=[w[0] for w in S.WEBHOOKS])
@pytest.mark.parametrize("encoding", ["bytes", "str", "mapping"])
def test_every_sample_parses_in_every_input_form(name, api, body, encoding):
    raw = {"bytes": json.dumps(body).encode(), "str": json.dumps(body), "mapping": body}
    event = parse_webhook(raw[encoding])
    assert event.api == api
    assert event.raw == body
    assert event.webhook_id == body["webhook_id"]
    assert event.kind is not EventKind.unknown


def test_current_inbound_audio_in_a_group():
    event = parse_webhook(S.F7_CURRENT_INBOUND_AUDIO_GROUP)
    assert event.kind is EventKind.message
    assert event.event == "message_inbound"
    assert event.contact == "+13231112233"
    assert event.group is not None
    assert event.group.id == "A1B2C3D4-0000-4000-8000-000000000001"
    assert event.group.name == "Dinner crew"
    assert event.group.participants == ["+13231112233", "+13233332211", "friend@icloud.com"]
    assert event.conversation_id == event.group.id
    assert event.message_type == "audio"
    assert event.channel == "imessage"
    assert event.sender == S.SENDER_ID
    assert event.attachments == ["https://files.example-loop.com/a/7D0E1F4A.caf"]
    assert event.speech is not None
    assert event.speech.text == "Can we move it to eight?"
    assert event.speech.language == Language(code="en", name="English")
    assert event.speech.metadata["speaking_rate"] == 152.0
    assert event.language is not None and event.language.code == "en"
    assert event.text == ""
    assert event.opt_in is False


def test_current_delivered_failed_reaction():
    delivered = parse_webhook(S.F8_CURRENT_DELIVERED)
    assert delivered.kind is EventKind.delivered
    assert delivered.passthrough == '{"order":"A-1042"}'
    assert delivered.conversation_id == "+13231112233"
    assert delivered.error is None

    failed = parse_webhook(S.F8_CURRENT_FAILED)
    assert failed.kind is EventKind.failed
    assert failed.error_code == 1030
    assert failed.error is not None and failed.error.kind.value == "delivery"
    assert failed.error.retryable is False

    reaction = parse_webhook(S.F8_CURRENT_REACTION)
    assert reaction.kind is EventKind.reaction
    assert reaction.reaction == "love"
    assert reaction.message_id == S.MESSAGE_ID


def test_opt_in_as_message_inbound_keeps_kind_message():
    event = parse_webhook(S.F9_CURRENT_OPT_IN)
    assert event.kind is EventKind.message
    assert event.opt_in is True
    assert event.text == "Subscribe me"
    assert event.organization_id == S.ORG_ID
    assert event.parameters == {"click_id": "abc123", "utm_campaign": "spring"}


def test_opt_in_event_with_hyphen_is_conversation_started():
    event = parse_webhook({"event": "opt-in", "contact": "+13231112233", "webhook_id": "w"})
    assert event.kind is EventKind.conversation_started
    assert event.opt_in is True


def test_sender_updated():
    event = parse_webhook(S.F9_CURRENT_SENDER_UPDATED)
    assert event.kind is EventKind.sender_updated
    assert event.sender == S.SENDER_ID
    assert event.contact is None
    assert event.conversation_id is None


def test_legacy_inbound_maps_legacy_names():
    event = parse_webhook(S.F12_LEGACY_INBOUND)
    assert event.kind is EventKind.message
    assert event.contact == "+13231112233"  # from recipient
    assert event.channel == "imessage"  # from delivery_type
    assert event.sender == "brand@imsg.co"  # from sender_name
    assert event.thread_id == "E3F4A5B6-7777-4C8D-9E0F-1A2B3C4D5E6F"
    assert event.text == "hello"


@pytest.mark.parametrize(
    ("success", "kind"),
    [(False, EventKind.failed), (True, EventKind.delivered), (None, EventKind.delivered)],
)
def test_legacy_message_sent_splits_on_success(success, kind):
    body = dict(S.F12_LEGACY_SENT_FAILED)
    if success is None:
        del body["success"]
    else:
        body["success"] = success
    event = parse_webhook(body)
    assert event.kind is kind
    assert event.success is success
    assert event.passthrough == "req-77"


def test_legacy_timeout_uses_the_legacy_webhook_table():
    event = parse_webhook(S.F12_LEGACY_TIMEOUT)
    assert event.kind is EventKind.failed
    assert event.error_code == 130
    assert event.error is not None
    # 130 is "secret key invalid" among legacy send codes, "message timeout" in webhooks.
    assert event.error.meaning == "message timeout"


def test_legacy_group_created_reads_group_id():
    event = parse_webhook(S.F12_LEGACY_GROUP_CREATED)
    assert event.kind is EventKind.group_created
    assert event.group is not None
    assert event.group.id == S.TARGET_ID
    assert event.group.participants[-1] == "participant@icloud.com"
    assert event.conversation_id == S.TARGET_ID


@pytest.mark.parametrize(
    ("alert_type", "kind", "opt_in"),
    [
        ("message_reply", EventKind.message, False),
        ("conversation_inited", EventKind.conversation_started, True),
        ("message_scheduled", EventKind.scheduled, False),
        ("message_failed", EventKind.failed, False),
        ("inbound_call", EventKind.inbound_call, False),
        ("unknown", EventKind.unknown, False),
        ("something_new", EventKind.unknown, False),
    ],
)
def test_legacy_alert_types(alert_type, kind, opt_in):
    event = parse_webhook({"alert_type": alert_type, "recipient": "a@b.co"})
    assert (event.kind, event.opt_in) == (kind, opt_in)


@pytest.mark.parametrize(
    ("raw", "normalized"), [("exclaim", "emphasize"), ("-exclaim", "-emphasize")]
)
def test_legacy_exclaim_becomes_emphasize(raw, normalized):
    body = {"alert_type": "message_reaction", "recipient": "+13231112233", "reaction": raw}
    assert parse_webhook(body).reaction == normalized


@pytest.mark.parametrize("event", ["unknown", "brand_new_event", "message_sent"])
def test_unknown_current_events_never_raise(event):
    parsed = parse_webhook({"event": event, "shiny_new_field": {"x": [1, 2]}})
    assert parsed.kind is EventKind.unknown
    assert parsed.raw["shiny_new_field"] == {"x": [1, 2]}


def test_wrong_types_in_optional_fields_become_absent():
    body = {
        "event": "message_inbound",
        "contact": "+13231112233",
        "subject": 5,
        "attachments": "https://not-a-list",
        "language": "en",
        "speech": {"text": 7, "language": [], "metadata": "loud"},
        "error_code": "not a number",
        "success": "yes",
        "parameters": [1],
        "sandbox": 1,
        "text": None,
    }
    event = parse_webhook(body)
    assert event.subject is None
    assert event.attachments == []
    assert event.language is None
    assert event.speech == Speech(text=None, language=None, metadata={})
    assert event.error_code is None
    assert event.success is None
    assert event.parameters == {}
    assert event.sandbox is None
    assert event.text == ""


def test_string_error_code_is_read_as_int():
    event = parse_webhook({"event": "message_failed", "error_code": "1010"})
    assert event.error_code == 1010


def test_event_takes_precedence_over_alert_type():
    event = parse_webhook({"event": "message_inbound", "alert_type": "x", "contact": "+1"})
    assert event.api == "current"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"{not json", "not valid JSON"),
        ("", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, not an array"),
        (b'"text"', "must be a JSON object, not a string"),
        (b"null", "not null"),
        (b'{"text": "hi"}', "neither 'event' nor 'alert_type'"),
        ({"event": 5}, "'event' must be a string"),
        ({"event": None}, "'event' must be a string"),
        ({"alert_type": ["x"]}, "'alert_type' must be a string"),
        ({"event": "message_inbound", "text": "hi"}, "without a contact or group"),
        ({"event": "message_reaction", "reaction": "love"}, "without a contact or group"),
        ({"event": "message_inbound", "contact": 13231112233}, "without a contact or group"),
        ({"event": "message_inbound", "contact": ""}, "without a contact or group"),
        ({"alert_type": "message_inbound", "recipient": "", "group": None}, "without a contact"),
        (
            {"event": "message_inbound", "contact": "+1", "group": {"name": "no id"}},
            "'group' has no string id",
        ),
        ({"event": "message_inbound", "contact": "+1", "message_id": 7}, "'message_id' must be"),
        ({"event": "message_delivered", "webhook_id": {"a": 1}}, "'webhook_id' must be"),
        (12, "must be bytes, str or a mapping"),
    ],
)
def test_payload_errors_have_a_one_line_reason(body, reason):
    with pytest.raises(PayloadError) as info:
        parse_webhook(body)
    message = str(info.value)
    assert reason in message
    assert "\n" not in message


def test_deeply_nested_json_is_a_payload_error():
    body = '{"event": "x", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(PayloadError, match="nested too deeply"):
        parse_webhook(body)


def test_group_model_accepts_both_spellings_and_keeps_extras():
    current = parse_obj(Group, {"id": "g1", "name": "n", "participants": ["+1", 5]})
    legacy = parse_obj(Group, {"group_id": "g1", "name": "n", "participants": ["+1"]})
    assert (current.id, current.participants) == ("g1", ["+1"])
    assert (legacy.id, legacy.name) == ("g1", "n")
    assert model_dump(parse_obj(Group, {"id": "g", "colour": "red"}))["colour"] == "red"
    with pytest.raises(ValueError):
        parse_obj(Group, {"group_id": 42})


def test_inbound_event_round_trips_through_the_compat_helpers():
    event = parse_webhook(S.F7_CURRENT_INBOUND_AUDIO_GROUP)
    dumped = model_dump(event)
    assert dumped["kind"] == EventKind.message
    assert dumped["group"]["id"] == "A1B2C3D4-0000-4000-8000-000000000001"
    assert parse_obj(InboundEvent, dumped) == event
    changed = model_copy(event, {"text": "changed"})
    assert (changed.text, event.text) == ("changed", "")


def test_send_results_of_both_generations():
    current = parse_send_result(S.F2_CURRENT_SEND_OK)
    assert (current.message_id, current.contact) == (S.MESSAGE_ID, "+13231112233")
    assert current.raw == S.F2_CURRENT_SEND_OK
    legacy = parse_send_result(S.F10_LEGACY_SEND_OK)
    assert legacy.contact == "+13231112233"  # from recipient
    group = parse_send_result(
        {"message_id": "m", "group": {"group_id": "g", "participants": ["+1"]}, "text": "t"}
    )
    extra_allowed: Dict[str, Any] = {"id": "g", "participants": ["+1"], "group_id": "g"}
    assert group.group == Group(**extra_allowed)
    for without_id in ({"contact": "+1"}, {"message_id": ""}, {"message_id": 7}):
        with pytest.raises(PayloadError, match="message_id"):
            parse_send_result(without_id)


@pytest.mark.parametrize(
    "body",
    [
        S.F2_CURRENT_SEND_OK,
        S.F10_LEGACY_SEND_OK,
        {"message_id": "m", "contact": 5, "text": ["t"], "passthrough": "p", "more": {"x": 1}},
        {"message_id": "m", "recipient": "+1", "group": "", "success": True},
        {"message_id": "m", "group": {"id": "g", "name": None}, "text": "t"},
    ],
)
def test_send_result_is_what_full_validation_makes(body):
    result = parse_send_result(body)
    checked = parse_obj(SendResult, {**body, "message_id": body["message_id"], "raw": body})
    assert vars(result).keys() == vars(checked).keys()
    for name, value in vars(checked).items():
        assert type(getattr(result, name)) is type(value), name
        assert getattr(result, name) == value, name


def test_status_of_both_generations():
    current = parse_status(S.F6_CURRENT_STATUS, api="current", message_id=S.MESSAGE_ID)
    assert current.status == "failed"
    assert current.error is not None
    assert current.error.code == 1020
    assert current.error.retryable is False
    assert current.last_update == "2026-05-02T18:04:11.120Z"

    legacy = parse_status(S.F14_LEGACY_STATUS, api="legacy", message_id=S.MESSAGE_ID)
    assert (legacy.status, legacy.contact, legacy.passthrough) == ("sent", "+13231112233", "req-77")
    assert legacy.error is None

    odd = parse_status({"status": "exploded", "error_code": 100}, api="legacy", message_id="m1")
    assert (odd.message_id, odd.status) == ("m1", "unknown")
    assert odd.error is not None and odd.error.meaning == "internal error"
