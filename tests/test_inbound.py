"""Inbound mapping: every webhook kind of both generations → the Rasa turn it starts (or none)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rasa_imessage.config import IMessageConfig, load_config
from rasa_imessage.inbound import (
    TurnInput,
    conversation_of,
    event_metadata,
    every_metadata_key,
    recipient_of,
    send_failure_turn,
    to_turn,
)
from rasa_imessage.loopmessage import InboundEvent, parse_webhook
from rasa_imessage.merging import with_bubble_ids
from rasa_imessage.options import METADATA_KEYS
from rasa_imessage.passthrough import encode_conversation


def _samples() -> Any:
    """The reference's PART F payloads, shared with tests/loopmessage."""
    if "lm_samples" in sys.modules:
        return sys.modules["lm_samples"]
    path = Path(__file__).parent / "loopmessage" / "lm_samples.py"
    spec = importlib.util.spec_from_file_location("lm_samples", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S = _samples()
PHONE = "+13231112233"
GROUP_ID = "A1B2C3D4-0000-4000-8000-000000000001"


def config(**extra: Any) -> IMessageConfig:
    return load_config({"api_key": "k", "webhook_auth": "h", **extra}, environ={})


DEFAULT = config()


def inbound(text: str = "hello", **fields: Any) -> InboundEvent:
    body = {
        "event": "message_inbound",
        "contact": PHONE,
        "text": text,
        "message_id": "M-1",
        "webhook_id": "W-1",
        **fields,
    }
    return parse_webhook({key: value for key, value in body.items() if value is not None})


def turn_of(event: InboundEvent, cfg: IMessageConfig = DEFAULT, **options: Any) -> TurnInput:
    turn = to_turn(event, cfg, **options)
    assert turn is not None
    return turn


def intent_of(text: str) -> Tuple[str, Dict[str, Any]]:
    """`/name{json}` → (name, entities)."""
    assert text.startswith("/")
    name, brace, entities = text[1:].partition("{")
    return name, json.loads(brace + entities)


def without(body: Dict[str, Any], *keys: str) -> Dict[str, Any]:
    return {key: value for key, value in body.items() if key not in keys}


# -- messages ------------------------------------------------------------------------------------


def test_current_text_message():
    turn = turn_of(inbound("Hi there"))
    assert turn == TurnInput(PHONE, "Hi there", "M-1", turn.metadata, False)
    assert turn.metadata["kind"] == "message"
    assert turn.metadata["api"] == "current"


@pytest.mark.parametrize("alert_type", ["message_inbound", "message_reply"])
def test_legacy_text_message(alert_type):
    turn = turn_of(parse_webhook({**S.F12_LEGACY_INBOUND, "alert_type": alert_type}))
    assert (turn.sender_id, turn.text, turn.message_id) == (PHONE, "hello", S.TARGET_ID)
    assert turn.synthetic is False
    assert turn.metadata["service"] == "imessage"
    assert turn.metadata["thread_id"] == "E3F4A5B6-7777-4C8D-9E0F-1A2B3C4D5E6F"


def test_voice_note_with_transcript_is_the_users_text():
    turn = turn_of(parse_webhook(S.F7_CURRENT_INBOUND_AUDIO_GROUP))
    assert turn.text == "Can we move it to eight?"
    assert turn.synthetic is False
    assert turn.message_id == "7D0E1F4A-2C3B-4A59-9E61-0F2B9C3D4E5F"
    speech = turn.metadata["speech"]
    assert speech["text"] == "Can we move it to eight?"
    assert speech["language"] == "en"
    assert speech["metadata"]["speaking_rate"] == 152.0
    assert turn.metadata["language"] == {"code": "en", "name": "English", "script": None}
    chinese = {**S.F7_CURRENT_INBOUND_AUDIO_GROUP, "language": {"code": "zh", "name": "Chinese",
                                                                "script": "Hant"}}  # fmt: skip
    assert turn_of(parse_webhook(chinese)).metadata["language"]["script"] == "Hant"
    assert turn.metadata["attachments"] == [
        {"url": "https://files.example-loop.com/a/7D0E1F4A.caf", "kind": "audio"}
    ]


def test_voice_note_without_transcript_is_an_attachment():
    turn = turn_of(parse_webhook(without(S.F7_CURRENT_INBOUND_AUDIO_GROUP, "speech")))
    assert turn.synthetic is True
    assert intent_of(turn.text) == (
        "imessage_attachment",
        {
            "attachment_url": "https://files.example-loop.com/a/7D0E1F4A.caf",
            "attachment_kind": "audio",
            "attachment_count": 1,
        },
    )


def test_attachments_with_text_send_the_text_and_keep_the_files_in_metadata():
    urls = ["https://f.example.com/a/IMG_1.HEIC", "https://f.example.com/a/clip.mov"]
    turn = turn_of(inbound("look at this", attachments=urls, message_type="attachments"))
    assert (turn.text, turn.synthetic) == ("look at this", False)
    assert turn.metadata["attachments"] == [
        {"url": urls[0], "kind": "image"},
        {"url": urls[1], "kind": "video"},
    ]


@pytest.mark.parametrize(
    ("message_type", "urls", "kind"),
    [
        ("attachments", ["https://f.example.com/p.jpg", "https://f.example.com/q.pdf"], "image"),
        ("attachments", ["https://f.example.com/report.pdf"], "file"),
        ("sticker", ["https://f.example.com/sticker.png"], "sticker"),
        ("location", [], "location"),
        ("location", ["https://f.example.com/loc.vcf"], "location"),
        (None, [], "file"),
        ("attachments", [], "attachments"),
    ],
)
def test_attachments_without_text_start_the_attachment_intent(message_type, urls, kind):
    turn = turn_of(inbound("", attachments=urls, message_type=message_type))
    assert turn.synthetic is True
    name, entities = intent_of(turn.text)
    assert name == "imessage_attachment"
    assert entities == {
        **({"attachment_url": urls[0]} if urls else {}),
        "attachment_kind": kind,
        "attachment_count": len(urls),
    }


def test_location_with_text_goes_to_nlu_as_text():
    turn = turn_of(inbound("I'm here: https://maps.apple.com/?ll=1,2", message_type="location"))
    assert turn.text == "I'm here: https://maps.apple.com/?ll=1,2"
    assert turn.metadata["message_type"] == "location"


# -- reactions, statuses, opt-in -----------------------------------------------------------------


def test_current_reaction():
    turn = turn_of(parse_webhook(S.F8_CURRENT_REACTION))
    assert intent_of(turn.text) == (
        "imessage_reaction",
        {"reaction": "love", "message_id": S.MESSAGE_ID},
    )
    assert turn.message_id == S.F8_CURRENT_REACTION["webhook_id"]  # not the bot's message id
    assert (turn.sender_id, turn.synthetic) == (PHONE, True)


def test_legacy_reaction_uses_the_current_name():
    event = parse_webhook(
        {
            "alert_type": "message_reaction",
            "recipient": PHONE,
            "reaction": "exclaim",
            "message_id": "BOT-1",
            "webhook_id": "W-9",
        }
    )
    assert intent_of(turn_of(event).text) == (
        "imessage_reaction",
        {"reaction": "emphasize", "message_id": "BOT-1"},
    )


@pytest.mark.parametrize(
    ("body", "entities"),
    [
        (S.F8_CURRENT_FAILED, {"error_code": 1030, "error_kind": "delivery"}),
        (S.F12_LEGACY_SENT_FAILED, {}),
        (S.F12_LEGACY_TIMEOUT, {"error_code": 130, "error_kind": "delivery"}),
    ],
    ids=["current message_failed", "legacy message_sent success false", "legacy timeout"],
)
def test_failed_delivery_starts_the_delivery_failed_intent(body, entities):
    turn = turn_of(parse_webhook(body))
    assert turn.sender_id == PHONE
    assert turn.message_id == body["webhook_id"]
    assert intent_of(turn.text) == (
        "imessage_delivery_failed",
        {**entities, "message_id": S.MESSAGE_ID},
    )
    if "error_code" in entities:
        error = turn.metadata["error"]
        assert (error["code"], error["kind"]) == (entities["error_code"], entities["error_kind"])
        assert set(error) == {"code", "kind", "meaning", "hint"}
        assert error["meaning"] and error["hint"]


@pytest.mark.parametrize("conversation", ["+15550001111", "group:G-42"])
@pytest.mark.parametrize("body", [S.F8_CURRENT_FAILED, S.F12_LEGACY_SENT_FAILED])
def test_failed_delivery_of_our_send_lands_in_the_conversation_that_sent_it(body, conversation):
    # A group send's status names a contact: only the passthrough knows the group.
    event = parse_webhook({**body, "passthrough": encode_conversation(conversation)})
    assert conversation_of(event) == conversation
    assert turn_of(event).sender_id == conversation


@pytest.mark.parametrize(
    "body",
    [
        S.F8_CURRENT_DELIVERED,
        {**S.F12_LEGACY_SENT_FAILED, "success": True},
        S.F9_CURRENT_SENDER_UPDATED,
        S.F12_LEGACY_GROUP_CREATED,
        {"event": "message_scheduled", "contact": PHONE, "webhook_id": "w"},
        {"event": "something_new", "contact": PHONE, "webhook_id": "w"},
        {"event": "message_failed", "error_code": 1030, "webhook_id": "w"},  # no one to tell
    ],
    ids=lambda body: body.get("event") or body.get("alert_type"),
)
def test_events_that_start_no_turn(body):
    assert to_turn(parse_webhook(body), DEFAULT) is None


def test_opt_in_message_starts_the_conversation_started_intent():
    turn = turn_of(parse_webhook(S.F9_CURRENT_OPT_IN))
    assert intent_of(turn.text) == (
        "imessage_conversation_started",
        {"contact": PHONE, "text": "Subscribe me"},
    )
    assert turn.metadata["opt_in"] is True
    assert turn.metadata["parameters"] == {"click_id": "abc123", "utm_campaign": "spring"}


@pytest.mark.parametrize(
    "body",
    [
        {"event": "opt-in", "contact": PHONE, "webhook_id": "w"},
        {"alert_type": "conversation_inited", "recipient": PHONE, "webhook_id": "w"},
    ],
)
def test_first_contact_events_start_the_conversation_started_intent(body):
    turn = turn_of(parse_webhook(body))
    assert intent_of(turn.text) == ("imessage_conversation_started", {"contact": PHONE})
    assert turn.message_id == "w"


def test_a_facetime_or_phone_call_starts_the_call_intent_keyed_by_its_webhook():
    group = {"id": "G-7", "participants": [PHONE, "+13235550000"]}
    body = {"event": "inbound_call", "contact": PHONE, "webhook_id": "w-call", "group": group}
    turn = turn_of(parse_webhook(body))
    assert (turn.sender_id, turn.text, turn.message_id) == ("group:G-7", "/imessage_call", "w-call")
    assert turn.metadata["kind"] == "inbound_call" and turn.metadata["speaker"] == PHONE
    renamed = turn_of(parse_webhook(body), config(call_intent="phoned"))
    assert renamed.text == "/phoned"


def test_opt_in_text_goes_to_nlu_when_the_intent_is_off():
    turn = turn_of(parse_webhook(S.F9_CURRENT_OPT_IN), config(conversation_started_intent=False))
    assert (turn.text, turn.synthetic) == ("Subscribe me", False)


# -- switching intents off and renaming them -----------------------------------------------------


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("attachment_intent", {**S.F7_CURRENT_INBOUND_AUDIO_GROUP, "speech": None}),
        ("reaction_intent", S.F8_CURRENT_REACTION),
        ("delivery_failed_intent", S.F8_CURRENT_FAILED),
        ("delivery_failed_intent", S.F12_LEGACY_TIMEOUT),
        ("conversation_started_intent", {"event": "opt-in", "contact": PHONE, "webhook_id": "w"}),
        ("call_intent", {"event": "inbound_call", "contact": PHONE, "webhook_id": "w"}),
    ],
)
def test_each_synthetic_intent_switched_off_starts_no_turn(key, body):
    event = parse_webhook(body)
    assert to_turn(event, DEFAULT) is not None
    assert to_turn(event, config(**{key: "false"})) is None


def test_renamed_intents_are_used():
    cfg = config(reaction_intent="tapback", delivery_failed_intent="not_sent")
    assert turn_of(parse_webhook(S.F8_CURRENT_REACTION), cfg).text.startswith("/tapback{")
    assert turn_of(parse_webhook(S.F8_CURRENT_FAILED), cfg).text.startswith("/not_sent{")


# -- groups --------------------------------------------------------------------------------------


def test_group_message_is_one_conversation_with_the_speaker_in_metadata():
    group = {"id": "G-7", "name": "Crew", "participants": [PHONE, "a@icloud.com"]}
    turn = turn_of(inbound("hi all", group=group))
    assert turn.sender_id == "group:G-7"
    assert turn.metadata["speaker"] == PHONE
    assert turn.metadata["group"] == group
    assert recipient_of(turn.sender_id) == (None, "G-7")


def test_legacy_group_id_spelling():
    event = parse_webhook({**S.F12_LEGACY_INBOUND, "group": {"group_id": "LG-1"}})
    assert turn_of(event).sender_id == "group:LG-1"


def test_one_to_one_message_has_no_speaker():
    turn = turn_of(inbound("hi"))
    assert "speaker" not in turn.metadata
    assert "group" not in turn.metadata
    assert recipient_of(turn.sender_id) == (PHONE, None)


MENTION = config(group_reply="mention", bot_names="Rasa, Loop Bot")


@pytest.mark.parametrize(
    ("text", "replied", "answered"),
    [
        ("rasa, what's for dinner?", False, True),
        ("Hey @Rasa!", False, True),
        ("ask loop bot", False, True),
        ("@LOOP BOT ping", False, True),
        ("ask Rasabot", False, False),  # not the name itself
        ("the rasa_x docs", False, False),
        ("no mention at all", False, False),
        ("no mention, but a reply to the bot", True, True),
        ("", False, False),
    ],
)
def test_group_reply_mention_policy(text, replied, answered):
    event = inbound(text, group={"id": "G-1"})
    turn = to_turn(event, MENTION, replied_to_bot=replied)
    assert (turn is not None) is answered
    if turn is not None and text:
        assert turn.text == text


def test_mention_policy_applies_to_groups_only_and_to_transcripts():
    assert to_turn(inbound("no mention"), MENTION) is not None
    voice = {**S.F7_CURRENT_INBOUND_AUDIO_GROUP}
    voice["speech"] = {**voice["speech"], "text": "Rasa, move it to eight"}
    assert turn_of(parse_webhook(voice), MENTION).text == "Rasa, move it to eight"
    assert to_turn(parse_webhook(S.F7_CURRENT_INBOUND_AUDIO_GROUP), MENTION) is None


def test_a_button_answer_in_a_group_needs_no_mention():
    event = inbound("2", group={"id": "G-1"})
    assert to_turn(event, MENTION) is None
    assert turn_of(event, MENTION, button_payload="/deny").text == "/deny"


def test_always_policy_answers_every_group_message():
    assert to_turn(inbound("no mention", group={"id": "G-1"}), DEFAULT) is not None


# -- intents typed by users, and button replies --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("/restart", "restart"),
        ('/greet{"a":1}', 'greet{"a":1}'),
        ("//x", "x"),
        ("/", "\u2215"),
        ("//", "\u2215\u2215"),
        ("/ /restart", "restart"),
        ("/ / /stop", "stop"),
        ("  /stop", "stop"),
        ("\n/session_start", "session_start"),
        ("hi /restart", "hi /restart"),
        ("a/b", "a/b"),
        ("\u2215restart", "\u2215restart"),
    ],
)
def test_typed_intents_are_escaped(text, escaped):
    turn = turn_of(inbound(text))
    assert turn.text == escaped
    assert turn.synthetic is False


def test_typed_intents_pass_when_allowed():
    turn = turn_of(inbound('/greet{"a":1}'), config(allow_intent_payloads=True))
    assert turn.text == '/greet{"a":1}'


@given(st.text(alphabet=st.sampled_from(list("/ \t\n\u00a0\u2028ab{}")) | st.characters()))
def test_no_typed_text_reaches_rasa_as_an_intent(text):
    turn = to_turn(inbound(text), DEFAULT)
    if turn is not None and not turn.synthetic:
        assert not turn.text.strip().startswith("/")  # UserMessage strips, then checks "/"
        if not text.lstrip().startswith("/"):
            assert turn.text == text


def test_a_button_reply_is_the_buttons_payload_even_when_intents_are_escaped():
    turn = turn_of(inbound("2"), button_payload='/choose{"size":"large"}')
    assert (turn.text, turn.synthetic) == ('/choose{"size":"large"}', True)
    assert turn.message_id == "M-1"


def test_synthetic_entities_are_json_even_with_quotes_in_user_text():
    body = {**S.F9_CURRENT_OPT_IN, "text": 'say "hi"} /restart'}
    assert intent_of(turn_of(parse_webhook(body)).text)[1]["text"] == 'say "hi"} /restart'


# -- metadata ------------------------------------------------------------------------------------


# Fields of LoopMessage's documented webhooks that no metadata key carries.
UNMAPPED_FIELDS = {"api_version", "organization_id", "phone_number", "status"}


@pytest.mark.parametrize(("name", "api", "body"), S.WEBHOOKS, ids=[w[0] for w in S.WEBHOOKS])
def test_metadata_is_json_and_keeps_the_whole_event(name, api, body):
    event = parse_webhook(body)
    metadata = event_metadata(event)
    assert json.loads(json.dumps(metadata)) == metadata
    extra = metadata.get("extra", {})
    mapped = {key: value for key, value in body.items() if key not in extra}
    assert {**mapped, **extra} == body  # nothing of the webhook is lost ...
    assert set(extra) == set(body) & UNMAPPED_FIELDS  # a field with a key is not repeated
    assert all(value not in (None, "", [], {}) for value in metadata.values())  # kept lean
    assert (metadata["channel"], metadata["api"]) == ("imessage", api)
    assert metadata["webhook_id"] == body["webhook_id"]
    turn: Optional[TurnInput] = to_turn(event, DEFAULT)
    if turn is not None:
        assert turn.metadata == metadata


def test_subject_and_sandbox_have_keys_of_their_own():
    """No sample webhook has them, so the test of the samples above does not see them."""
    body = {**S.F12_LEGACY_INBOUND, "subject": "Re: order", "sandbox": True}
    metadata = event_metadata(parse_webhook(body))
    assert (metadata["subject"], metadata["sandbox"]) == ("Re: order", True)
    assert not set(metadata.get("extra", {})) & {"subject", "sandbox"}


def test_fields_the_connector_does_not_map_are_kept_in_extra():
    body = {**S.F7_CURRENT_INBOUND_AUDIO_GROUP, "api_version": "1.0", "brand_new_field": {"x": 1}}
    metadata = event_metadata(parse_webhook(body))
    assert metadata["extra"] == {"api_version": "1.0", "brand_new_field": {"x": 1}}
    assert "raw" not in metadata
    assert len(json.dumps(metadata)) < len(json.dumps(body)) + 700  # not the webhook twice


def test_a_failed_send_becomes_a_turn_shaped_as_an_inbound_failure():
    turn = send_failure_turn("+13231112233", "imessage_delivery_failed", 520, "recipient",
                             "LoopMessage code 520", "T-1")  # fmt: skip
    assert turn.text == '/imessage_delivery_failed{"error_code":520,"error_kind":"recipient"}'
    assert turn.metadata == {"channel": "imessage", "kind": "failed", "error_code": 520,
                             "error": "LoopMessage code 520", "source": "send"}  # fmt: skip
    assert turn.synthetic and turn.message_id == "T-1"
    lost = send_failure_turn("group:G-1", "not_sent", None, "connection", "timed out", "T-2")
    assert lost.text == '/not_sent{"error_kind":"connection"}'  # no null entity ...
    assert "error_code" not in lost.metadata  # ... and no null key, as for inbound events
    assert set(turn.metadata) <= set(METADATA_KEYS)


def test_metadata_keys_names_every_key_the_metadata_can_carry_and_no_other():
    """Not only those the sample webhooks reach: none of them has `sandbox` or `subject`."""
    failed = send_failure_turn("+13231112233", "imessage_delivery_failed", 520, "recipient",
                               "LoopMessage code 520", "T-1")  # fmt: skip
    gathered = with_bubble_ids({}, [inbound(), inbound()], None)
    keys = set(every_metadata_key(inbound())) | set(failed.metadata) | set(gathered)
    assert keys == set(METADATA_KEYS)
    assert len(METADATA_KEYS) == len(keys)  # each named once


def test_metadata_keys_keep_only_the_keys_named_and_leave_the_turn_as_it_was():
    event = parse_webhook(S.F7_CURRENT_INBOUND_AUDIO_GROUP)
    full = turn_of(event)
    kept = turn_of(event, config(metadata_keys=["group", "attachments", "speaker", "reaction"]))

    assert set(full.metadata) > {"group", "attachments", "speaker", "contact"}
    assert kept.metadata == {key: full.metadata[key] for key in ("group", "attachments", "speaker")}
    assert (kept.sender_id, kept.text, kept.message_id) == (
        full.sender_id, full.text, full.message_id)  # fmt: skip
    assert turn_of(event, config(metadata_keys=[])).metadata == {}


def test_metadata_keys_apply_to_the_turns_of_failed_sends_too():
    turn = send_failure_turn("+13231112233", "imessage_delivery_failed", 520, "recipient",
                             "LoopMessage code 520", "T-1", ("source", "error_code"))  # fmt: skip
    assert turn.metadata == {"error_code": 520, "source": "send"}
