"""LoopMessage's request checks and the error code each failure earns, per API generation.

The two generations share most numbers but not all (a bad key is 130 in the current API and
125 in the legacy one, where 130 means a bad secret), so every check names its code in a
table with one column per generation, following the reference's guidance for a fake.

One deliberate deviation: attachment and voice URLs must be ``https://`` as on the real
service, except plain ``http://`` on a loopback host, because the emulator serves uploads at
``http://127.0.0.1:PORT/files/...`` itself.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping
from urllib.parse import urlsplit

from rasa_imessage.loopmessage import (
    EFFECTS,
    MAX_ATTACHMENTS,
    MAX_PASSTHROUGH_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_URL_LENGTH,
)

from .config import (
    MAX_TYPING_SECONDS,
    Api,
    EmulatorConfig,
    is_loopback,
)
from .contacts import ContactError, normalize_contact
from .store import Store

SendKind = Literal["text", "group", "voice", "reaction"]

# check -> (current code, legacy code)
CODES: Mapping[str, tuple[int, int]] = {
    "bad_request": (100, 100),
    "missing_auth": (110, 110),
    "missing_param": (120, 120),
    "bad_key": (130, 125),
    "bad_secret": (130, 130),
    "no_text": (140, 140),
    "no_contact": (150, 150),
    "bad_email": (170, 170),
    "bad_phone": (180, 180),
    "bad_group": (165, 100),  # the legacy API has no dedicated code for an unknown group
    "no_sender_name": (210, 210),
    "bad_sender": (220, 220),
    "not_opted_in": (520, 560),
    "no_conversation": (510, 560),
    "bad_effect": (580, 580),
    "bad_reply_to": (590, 590),
    "bad_message_id": (595, 595),
    "bad_reaction": (600, 600),
    "unknown_message": (610, 610),
    "effect_and_reaction": (620, 620),
    "no_media_url": (640, 640),
    "sms_to_email": (1110, 1110),
    "sms_to_group": (1120, 1120),
    "sms_audio": (1140, 1140),
    # No dedicated code exists for a bad attachment or an over-long passthrough.
    "bad_param": (125, 100),
}

_REACTIONS = {
    "current": ("love", "like", "dislike", "laugh", "emphasize", "question"),
    "legacy": ("love", "like", "dislike", "laugh", "exclaim", "question"),
}
REACTIONS = {
    api: frozenset([*names, *("-" + n for n in names)]) for api, names in _REACTIONS.items()
}
CHANNELS = {"current": ("imessage", "sms", "rcs", "whatsapp"), "legacy": ("imessage", "sms")}


class Rejection(Exception):
    """A request LoopMessage would refuse: the code, a one-line reason and the HTTP status."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def reject(api: Api, check: str, message: str) -> Rejection:
    current, legacy = CODES[check]
    return Rejection(current if api == "current" else legacy, message)


@dataclass(frozen=True)
class SendPlan:
    """A send that passed every check, normalised: what the emulator will deliver."""

    kind: SendKind
    conversation: str
    contact: str | None
    text: str
    channel: str = "imessage"
    subject: str | None = None
    effect: str | None = None
    attachments: list[str] = field(default_factory=list)
    media_url: str | None = None
    reaction: str | None = None
    target: str | None = None
    reply_to_id: str | None = None
    passthrough: str | None = None
    sender: str | None = None  # the sender id a current-API send named


def check_auth(api: Api, headers: Mapping[str, str], config: EmulatorConfig) -> None:
    """Current: one organization key. Legacy: an authorization key and a secret key."""
    key = headers.get("Authorization", "")
    if api == "current":
        if not key:
            raise reject(api, "missing_auth", "Missing credentials: send the Authorization header")
        if not any(_same(key, accepted) for accepted in config.api_keys):
            raise reject(api, "bad_key", "Authorization key invalid or nonexistent")
        return
    secret = headers.get("Loop-Secret-Key", "")
    if not key or not secret:
        raise reject(
            api, "missing_auth", "Missing credentials: send Authorization and Loop-Secret-Key"
        )
    if not _same(key, config.authorization_key):
        raise reject(api, "bad_key", "Authorization key invalid or nonexistent")
    if not _same(secret, config.secret_key):
        raise reject(api, "bad_secret", "Secret key invalid or nonexistent")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def plan_send(api: Api, body: Any, store: Store, senders: tuple[str, ...]) -> SendPlan:
    """Check a send body the way LoopMessage does; raise Rejection with the matching code.

    ``senders`` are the organization's: the sender ids (current API) or the one sender name
    (legacy) a send may name.
    """
    if not isinstance(body, dict):
        raise reject(api, "bad_request", "The request body must be a JSON object")
    is_reaction = "reaction" in body
    is_voice = "media_url" in body or (api == "legacy" and bool(body.get("audio_message")))
    channel = _optional_str(api, body, "channel" if api == "current" else "service") or "imessage"
    if channel not in CHANNELS[api]:
        raise reject(api, "bad_param", f"Unknown channel {channel!r}")
    if is_reaction and body.get("effect"):
        raise reject(api, "effect_and_reaction", "effect and reaction cannot be in one request")

    conversation, contact, kind = _target(api, body, store)
    text = _optional_str(api, body, "text") or ""
    if not (is_voice or is_reaction) and not text.strip():
        raise reject(api, "no_text", "No text: the text parameter is required")
    sender = _optional_str(api, body, "sender" if api == "current" else "sender_name")
    if api == "legacy" and not sender:
        raise reject(api, "no_sender_name", "Sender name not specified")
    _check_sender(api, sender, senders)
    if channel == "sms":
        _check_sms(api, contact, kind, is_voice)

    media_url = reaction = target = None
    if is_voice:
        kind, media_url = "voice", _optional_str(api, body, "media_url")
        if not media_url:
            raise reject(api, "no_media_url", "No media_url for the voice message")
        _check_url(api, media_url, "media_url")
    if is_reaction:
        kind = "reaction"
        reaction, target = _check_reaction(api, body, store, conversation)

    effect = _optional_str(api, body, "effect")
    if effect is not None and effect not in EFFECTS:
        raise reject(api, "bad_effect", f"Invalid effect {effect!r}")
    reply_to_id = _optional_str(api, body, "reply_to_id")
    if reply_to_id and reply_to_id not in store.messages:
        raise reject(api, "bad_reply_to", "Invalid message_id for reply_to_id")
    passthrough = _optional_str(api, body, "passthrough")
    if passthrough is not None and len(passthrough) > MAX_PASSTHROUGH_LENGTH:
        raise reject(api, "bad_param", f"passthrough is over {MAX_PASSTHROUGH_LENGTH} characters")
    attachments = _check_attachments(api, body.get("attachments"))
    if contact is not None and contact not in store.opted_in:
        raise reject(
            api,
            "not_opted_in",
            "Unable to send outbound messages until this recipient initiates a conversation",
        )
    return SendPlan(
        kind=kind,
        conversation=conversation,
        contact=contact,
        text=text[:MAX_TEXT_LENGTH],
        channel=channel,
        subject=_optional_str(api, body, "subject"),
        effect=effect,
        attachments=attachments,
        media_url=media_url,
        reaction=reaction,
        target=target,
        reply_to_id=reply_to_id,
        passthrough=passthrough,
        sender=sender if api == "current" else None,
    )


def _check_sender(api: Api, sender: str | None, senders: tuple[str, ...]) -> None:
    if sender is not None and sender not in senders:
        raise reject(api, "bad_sender", f"Invalid sender name {sender!r}")


def _target(api: Api, body: Mapping[str, Any], store: Store) -> tuple[str, str | None, SendKind]:
    group_id = _optional_str(api, body, "group")
    if group_id:
        if store.group(group_id) is None:
            raise reject(api, "bad_group", f"Invalid group {group_id!r}")
        return group_id, None, "group"
    raw = _optional_str(api, body, "contact" if api == "current" else "recipient")
    if not raw:
        field_name = "contact" if api == "current" else "recipient"
        raise reject(api, "no_contact", f"No {field_name}: the {field_name} parameter is required")
    contact = _contact(api, raw)
    return contact, contact, "text"


def _contact(api: Api, raw: str) -> str:
    try:
        contact, _ = normalize_contact(raw)
    except ContactError as exc:
        raise reject(api, f"bad_{exc.kind}", f"Invalid {exc.kind}: {raw!r}") from exc
    return contact


def _check_sms(api: Api, contact: str | None, kind: SendKind, is_voice: bool) -> None:
    if kind == "group":
        raise reject(api, "sms_to_group", "SMS cannot be sent to a group")
    if contact is not None and "@" in contact:
        raise reject(api, "sms_to_email", "SMS cannot be sent to an email address")
    if is_voice:
        raise reject(api, "sms_audio", "Audio messages cannot be sent over SMS")


def _check_reaction(
    api: Api, body: Mapping[str, Any], store: Store, conversation: str
) -> tuple[str, str]:
    reaction = _optional_str(api, body, "reaction") or ""
    if reaction not in REACTIONS[api]:
        allowed = ", ".join(_REACTIONS[api])
        raise reject(api, "bad_reaction", f"Invalid reaction {reaction!r}; use one of {allowed}")
    target = _optional_str(api, body, "message_id") or ""
    message = store.messages.get(target)
    if message is None or message.conversation != conversation:
        raise reject(api, "unknown_message", "reaction or message_id invalid or nonexistent")
    return reaction, target


def _check_attachments(api: Api, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(url, str) for url in value):
        raise reject(api, "bad_param", "attachments must be a list of URLs")
    if len(value) > MAX_ATTACHMENTS[api]:
        raise reject(api, "bad_param", f"At most {MAX_ATTACHMENTS[api]} attachments per message")
    for url in value:
        _check_url(api, url, "attachment")
    return list(value)


def _check_url(api: Api, url: str, what: str) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise reject(api, "bad_param", f"{what} URL is over {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return  # the emulator's own uploads; see the module docstring
    raise reject(api, "bad_param", f"{what} URL must be a public https:// URL: {url[:80]!r}")


def _optional_str(api: Api, body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise reject(api, "bad_param", f"{name} must be a string")


@dataclass(frozen=True)
class TypingPlan:
    """What a show-typing call asks for, in which conversation."""

    conversation: str
    typing: int
    read: bool


def plan_typing(body: Any, store: Store, senders: tuple[str, ...]) -> TypingPlan:
    """Check a show-typing body (current API only; the legacy API uses webhook responses)."""
    api: Api = "current"
    if not isinstance(body, dict):
        raise reject(api, "bad_request", "The request body must be a JSON object")
    message_id = _optional_str(api, body, "message_id")
    if message_id:
        message = store.messages.get(message_id)
        if message is None:
            raise reject(api, "bad_message_id", "Invalid or nonexistent message_id")
        conversation = message.conversation
    else:
        raw = _optional_str(api, body, "contact")
        sender = _optional_str(api, body, "sender")
        if not raw or not sender:
            raise reject(api, "missing_param", "Send message_id, or both contact and sender")
        _check_sender(api, sender, senders)
        conversation = _contact(api, raw)
        if conversation not in store.conversations:
            raise reject(api, "no_conversation", "No recent conversation with this contact")
    typing = body.get("typing", 0)
    if isinstance(typing, bool) or not isinstance(typing, int):
        raise reject(api, "bad_param", "typing must be a whole number of seconds")
    if not 0 <= typing <= MAX_TYPING_SECONDS:
        raise reject(api, "bad_param", f"typing must be 0-{MAX_TYPING_SECONDS} seconds")
    read = body.get("read", typing > 0)  # read defaults to true when typing is shown
    if not isinstance(read, bool):
        raise reject(api, "bad_param", "read must be true or false")
    return TypingPlan(conversation, typing, read)
