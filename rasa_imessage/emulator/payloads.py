"""Webhook bodies exactly as each LoopMessage generation shapes them.

The current API says ``event``/``contact``/``channel`` and ``group.id``; the legacy API says
``alert_type``/``recipient``/``delivery_type``, ``group.group_id`` and adds ``sender_name``.
Optional fields are left out rather than sent as null, as the samples show.
"""

from __future__ import annotations

import uuid
from typing import Any, Mapping

from .config import Api, EmulatorConfig
from .events import JsonDict
from .store import Conversation, Message

API_VERSION = "1.0"
# What an opt-in webhook names as the organization (the emulator plays one).
ORGANIZATION_ID = "emulator-organization"
ENGLISH = {"code": "en", "name": "English"}

# Tapback names the page uses (current API words) and their legacy spelling.
_LEGACY_REACTION = {"emphasize": "exclaim"}
_CURRENT_REACTION = {v: k for k, v in _LEGACY_REACTION.items()}


def reaction_for(api: Api, reaction: str) -> str:
    """Spell a tapback the way ``api`` does: ``emphasize`` is ``exclaim`` in the legacy API."""
    sign, name = ("-", reaction[1:]) if reaction.startswith("-") else ("", reaction)
    table = _LEGACY_REACTION if api == "legacy" else _CURRENT_REACTION
    return sign + table.get(name, name)


def new_webhook_id() -> str:
    return str(uuid.uuid4())


def _envelope(api: Api, event: str, contact: str | None, config: EmulatorConfig) -> JsonDict:
    body: JsonDict = {"webhook_id": new_webhook_id(), "api_version": API_VERSION}
    if api == "current":
        body["event"] = event
        if contact:
            body["contact"] = contact
    else:
        body["alert_type"] = event
        if contact:
            body["recipient"] = contact
        body["sender_name"] = config.sender_name
    return body


def group_object(api: Api, conversation: Conversation) -> JsonDict:
    group: JsonDict = {"id" if api == "current" else "group_id": conversation.key}
    if conversation.name:
        group["name"] = conversation.name
    group["participants"] = list(conversation.participants)
    return group


def _channel(api: Api, body: JsonDict, channel: str) -> None:
    body["channel" if api == "current" else "delivery_type"] = channel


def _put(body: dict[str, Any], **fields: Any) -> None:
    body.update({name: value for name, value in fields.items() if value not in (None, [], "")})


def inbound(
    api: Api,
    message: Message,
    conversation: Conversation,
    config: EmulatorConfig,
    opt_in: Mapping[str, Any] | None = None,
) -> JsonDict:
    """``message_inbound``: a person wrote to the bot (alone or in a group).

    ``opt_in``: the message is an opt-in link's, and these are the link's fields; it is
    marked ``type: "opt_in"`` as LoopMessage's example shows.
    """
    body = _envelope(api, "message_inbound", message.sender, config)
    body.update(message_id=message.id, text=message.text, message_type=message.message_type)
    _channel(api, body, message.channel)
    if api == "current":
        body["sender"] = message.via or config.sender_id
    _put(
        body,
        subject=message.subject,
        attachments=message.attachments,
        thread_id=message.reply_to_id,
        language=ENGLISH if message.text else None,
    )
    if conversation.kind == "group":
        body["group"] = group_object(api, conversation)
    if message.speech:
        body["speech"] = {"text": message.speech, "language": ENGLISH}
    if opt_in is not None and api == "current":
        body.update(type="opt_in", organization_id=ORGANIZATION_ID, parameters=dict(opt_in))
    return body


def conversation_started(api: Api, contact: str, config: EmulatorConfig) -> JsonDict:
    """First contact: ``opt-in`` (the current event table's spelling) or ``conversation_inited``."""
    event = "opt-in" if api == "current" else "conversation_inited"
    body = _envelope(api, event, contact, config)
    body["text"] = ""
    return body


def inbound_call(api: Api, contact: str, via: str | None, config: EmulatorConfig) -> JsonDict:
    """``inbound_call``: a person FaceTimed or phoned the sender (no message, no message_id)."""
    body = _envelope(api, "inbound_call", contact, config)
    if api == "current":
        body["sender"] = via or config.sender_id
    return body


def reaction(
    api: Api, contact: str, target: Message, name: str, config: EmulatorConfig
) -> JsonDict:
    """``message_reaction``: a person put a tapback on one of the bot's messages."""
    body = _envelope(api, "message_reaction", contact, config)
    body.update(
        message_id=target.id,
        text=target.text,
        reaction=reaction_for(api, name),
        message_type="reaction",
    )
    _channel(api, body, target.channel)
    return body


def outbound_status(
    api: Api,
    event: str,
    message: Message,
    conversation: Conversation,
    config: EmulatorConfig,
    **extra: Any,
) -> JsonDict:
    """Lifecycle events of a bot's message: delivered/failed (current), scheduled/sent (legacy)."""
    contact = conversation.key if conversation.kind == "contact" else None
    body = _envelope(api, event, contact, config)
    body.update(message_id=message.id, text=message.text, **extra)
    if conversation.kind == "group":
        body["group"] = group_object(api, conversation)
    if api == "legacy":
        _channel(api, body, message.channel)
    _put(body, passthrough=message.passthrough)
    return body
