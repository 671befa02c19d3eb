"""From a normalized LoopMessage event to the arguments of one Rasa `UserMessage`.

Pure functions over plain objects: no Sanic, no Rasa, so every mapping is tested directly.
Events that are not plain text become synthetic intents (`/imessage_reaction{...}`), with the
details as entities and in full in the message metadata.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from .config import IMessageConfig
from .loopmessage import EventKind, InboundEvent
from .media import kind_of
from .passthrough import decode_conversation

__all__ = [
    "GROUP_PREFIX",
    "TurnInput",
    "conversation_of",
    "event_metadata",
    "every_metadata_key",
    "kept_metadata",
    "recipient_of",
    "send_failure_turn",
    "to_turn",
]

GROUP_PREFIX = "group:"


@dataclass(frozen=True)
class TurnInput:
    """What one Rasa turn is started with."""

    sender_id: str
    text: str
    message_id: Optional[str]
    metadata: Dict[str, Any]
    synthetic: bool = False


def conversation_of(event: InboundEvent) -> Optional[str]:
    """The Rasa sender_id: the group (so replies go to the group), else the contact.

    Status webhooks of our own sends carry the conversation in `passthrough`, which also
    covers group sends whose status names only a contact.
    """
    ours = decode_conversation(event.passthrough)
    if ours is not None:
        return ours
    if event.group is not None and event.group.id:
        return GROUP_PREFIX + event.group.id
    return event.contact or None


def recipient_of(sender_id: str) -> Tuple[Optional[str], Optional[str]]:
    """`(contact, group)` to address a send to the Rasa conversation `sender_id`."""
    if sender_id.startswith(GROUP_PREFIX):
        return None, sender_id[len(GROUP_PREFIX) :]
    return sender_id, None


# Webhook fields the metadata carries under its own keys (both generations' names), and the
# connector's own `passthrough`; everything else in a webhook goes to `extra`.
_MAPPED_FIELDS = frozenset({
    "event", "alert_type", "webhook_id", "message_id", "contact", "recipient", "group", "text",
    "subject", "attachments", "message_type", "channel", "delivery_type", "reaction",
    "thread_id", "error_code", "success", "passthrough", "sender", "sender_name", "language",
    "speech", "sandbox", "type", "parameters",
})  # fmt: skip


def event_metadata(event: InboundEvent) -> Dict[str, Any]:
    """The whole event, JSON-safe, for `tracker.latest_message["metadata"]`.

    Rasa stores the metadata with every user message and writes and reads the whole
    conversation back every turn, so it is kept lean: not the raw webhook as well, and no key
    whose value is null or empty (a 100-turn conversation's save and load took 21.0 ms with
    them, 18.1 without, 16.8 with no metadata at all; BENCHMARKS.md). Fields no key here
    carries (ones LoopMessage adds later, `api_version`) are kept in `extra`.
    """
    return {key: value for key, value in every_metadata_key(event).items() if not _is_empty(value)}


def every_metadata_key(event: InboundEvent) -> Dict[str, Any]:
    """The metadata with its empty keys too: every key `metadata_keys` can name but `source`
    (a failed send's own, `send_failure_turn`) and `message_ids` (a gathered turn's,
    merging.py)."""
    group = event.group
    speech = event.speech
    language = event.language
    return {
        "channel": "imessage",
        "api": event.api,
        "event": event.event,
        "kind": event.kind.value,
        "webhook_id": event.webhook_id,
        "message_id": event.message_id,
        "contact": event.contact,
        "group": None
        if group is None
        else {"id": group.id, "name": group.name, "participants": list(group.participants)},
        "speaker": event.contact if group is not None else None,
        "text": event.text,
        "subject": event.subject,
        "attachments": [{"url": url, "kind": kind_of(url)} for url in event.attachments],
        "message_type": event.message_type,
        "service": event.channel,
        "reaction": event.reaction,
        "thread_id": event.thread_id,
        "error_code": event.error_code,
        "error": _error_of(event),
        "success": event.success,
        "sender": event.sender,
        "language": None
        if language is None
        else {"code": language.code, "name": language.name, "script": language.script},
        "speech": None
        if speech is None
        else {
            "text": speech.text,
            "language": None if speech.language is None else speech.language.code,
            "metadata": dict(speech.metadata),
        },
        "sandbox": event.sandbox,
        "opt_in": event.opt_in,
        "parameters": dict(event.parameters),
        "extra": {key: value for key, value in event.raw.items() if key not in _MAPPED_FIELDS},
    }


def kept_metadata(metadata: Dict[str, Any], keys: Optional[Tuple[str, ...]]) -> Dict[str, Any]:
    """Only the `keys` the bot reads (`metadata_keys`; all when None): less for Rasa to store
    with each message and to read back with the conversation every turn."""
    if keys is None:
        return metadata
    return {key: value for key, value in metadata.items() if key in keys}


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (list, dict, str)) and not value)


def _error_of(event: InboundEvent) -> Optional[Dict[str, Any]]:
    info = event.error
    if info is None:
        return None
    return {"code": info.code, "meaning": info.meaning, "hint": info.hint, "kind": info.kind.value}


def send_failure_turn(
    conversation: str,
    intent: str,
    code: Optional[int],
    kind: str,
    error: str,
    message_id: str,
    metadata_keys: Optional[Tuple[str, ...]] = None,
) -> TurnInput:
    """The bot's turn for one of its own sends that failed for good (no webhook behind it).

    Shaped as an inbound failure is: the intent's entities and the lean metadata leave out
    what is unknown (a connection error has no code); `metadata_keys` as for webhooks.
    """
    text = _intent(intent, {"error_code": code, "error_kind": kind})
    metadata = {"channel": "imessage", "kind": "failed", "error_code": code, "error": error,
                "source": "send"}  # fmt: skip
    lean = {key: value for key, value in metadata.items() if not _is_empty(value)}
    return TurnInput(conversation, text, message_id, kept_metadata(lean, metadata_keys), True)


def _intent(name: str, entities: Dict[str, Any]) -> str:
    """`/name{entities}`, or `/name` alone: Rasa's pattern reads `{}` as no intent at all."""
    payload = {key: value for key, value in entities.items() if value is not None}
    if not payload:
        return f"/{name}"
    return f"/{name}{json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}"


def _escape_intent_prefix(text: str) -> str:
    """Stop users from skipping NLU with `/intent{...}`: drop the leading slashes."""
    stripped = text.lstrip()
    if not stripped.startswith("/"):
        return text
    rest = stripped
    while rest.startswith("/"):  # "/ /restart" must not come out as "/restart"
        rest = rest.lstrip("/").lstrip()
    return rest or "\u2215" * stripped.count("/")


def _mentions(text: str, names: Tuple[str, ...]) -> bool:
    for name in names:
        if re.search(rf"(?<!\w)@?{re.escape(name)}(?!\w)", text, flags=re.IGNORECASE):
            return True
    return False


def _message_text(event: InboundEvent) -> str:
    text = event.text or ""
    if not text.strip() and event.speech is not None and event.speech.text:
        return event.speech.text  # a voice note's transcript is what the user said
    return text


def _attachment_turn(event: InboundEvent, config: IMessageConfig) -> Optional[str]:
    if config.attachment_intent is None:
        return None
    urls: List[str] = list(event.attachments)
    kind = (
        "sticker"
        if event.message_type == "sticker"
        else (
            "location"
            if event.message_type == "location"
            else (kind_of(urls[0]) if urls else event.message_type or "file")
        )
    )
    return _intent(
        config.attachment_intent,
        {
            "attachment_url": urls[0] if urls else None,
            "attachment_kind": kind,
            "attachment_count": len(urls),
        },
    )


def to_turn(
    event: InboundEvent,
    config: IMessageConfig,
    *,
    button_payload: Optional[str] = None,
    replied_to_bot: bool = False,
) -> Optional[TurnInput]:
    """The turn an event starts, or None when it starts none (statuses, unknown events)."""
    sender_id = conversation_of(event)
    if not sender_id:
        return None
    metadata = kept_metadata(event_metadata(event), config.metadata_keys)
    kind = event.kind

    def turn(text: str, synthetic: bool) -> TurnInput:
        # Reactions and statuses name the *bot's* message; Rasa Pro replays a turn whose
        # message_id it has seen, so those turns are keyed by their webhook instead.
        own_id = event.message_id if kind is EventKind.message else event.webhook_id
        return TurnInput(sender_id, text, own_id, metadata, synthetic)

    if kind is EventKind.message and event.opt_in and config.conversation_started_intent:
        return turn(
            _intent(
                config.conversation_started_intent,
                {"contact": event.contact, "text": event.text or None},
            ),
            True,
        )
    if kind is EventKind.message:
        text = _message_text(event)
        if button_payload is not None:  # an answer to the bot's own list: always for the bot
            return turn(button_payload, True)
        if (
            event.group is not None
            and config.group_reply == "mention"
            and not replied_to_bot
            and not _mentions(text, config.bot_names)
        ):
            return None
        if text.strip():
            if not config.allow_intent_payloads:
                text = _escape_intent_prefix(text)
            return turn(text, False)
        attachment = _attachment_turn(event, config)
        return turn(attachment, True) if attachment else None
    if kind is EventKind.reaction and config.reaction_intent:
        return turn(
            _intent(
                config.reaction_intent, {"reaction": event.reaction, "message_id": event.message_id}
            ),
            True,
        )
    if kind is EventKind.failed and config.delivery_failed_intent:
        info = event.error
        return turn(
            _intent(
                config.delivery_failed_intent,
                {
                    "error_code": event.error_code,
                    "error_kind": info.kind.value if info is not None else None,
                    "message_id": event.message_id,
                },
            ),
            True,
        )
    if kind is EventKind.conversation_started and config.conversation_started_intent:
        return turn(_intent(config.conversation_started_intent, {"contact": event.contact}), True)
    if kind is EventKind.inbound_call and config.call_intent:
        return turn(_intent(config.call_intent, {}), True)
    return None
