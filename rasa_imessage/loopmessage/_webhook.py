"""Webhook bodies of both generations → one InboundEvent, or a one-line PayloadError.

The webhook handler answers a PayloadError with a 400 and anything else with a 200,
so this module must raise nothing but PayloadError, whatever arrives. Unknown event
types are not errors: LoopMessage adds them without a version bump; they parse to
kind `unknown`. Only what a reply would be wrong without is required: the event
name, string ids, and a contact or group on messages and reactions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping  # isinstance: typing's aliases check slower
from typing import Any, Dict, Tuple, Union

from ._coerce import opt_bool, opt_int, opt_str, str_list, str_map
from ._compat import construct, parse_obj
from ._errors import PayloadError
from ._models import EventKind, InboundEvent, group_input

__all__ = ["parse_webhook"]

_K = EventKind
_CURRENT_EVENTS: Dict[str, EventKind] = {
    "message_inbound": _K.message,
    "message_reaction": _K.reaction,
    "message_delivered": _K.delivered,
    "message_failed": _K.failed,
    "message_scheduled": _K.scheduled,
    "opt-in": _K.conversation_started,
    "group_created": _K.group_created,
    "inbound_call": _K.inbound_call,
    "sender_name_updated": _K.sender_updated,
}
_LEGACY_EVENTS: Dict[str, EventKind] = {
    "message_inbound": _K.message,
    "message_reply": _K.message,  # accounts created before 2022-12-20
    "message_reaction": _K.reaction,
    "message_failed": _K.failed,
    "message_timeout": _K.failed,
    "message_scheduled": _K.scheduled,
    "conversation_inited": _K.conversation_started,
    "group_created": _K.group_created,
    "inbound_call": _K.inbound_call,
}
# The legacy API calls "!!" exclaim; the current one calls it emphasize.
_REACTION_ALIASES = {"exclaim": "emphasize", "-exclaim": "-emphasize"}
_NEEDS_PEER = (_K.message, _K.reaction)
# Fields `_normalize` leaves as plain dicts for pydantic to make models of.
_NESTED = ("group", "language", "speech")


def parse_webhook(body: Union[bytes, str, Mapping[str, Any]]) -> InboundEvent:
    """Parse one webhook body (raw bytes, text or decoded JSON) of either generation."""
    data = _decode(body)
    fields = _normalize(data)
    try:
        if all(fields[name] is None for name in _NESTED):
            return construct(InboundEvent, fields)  # `_normalize` typed every other field
        return parse_obj(InboundEvent, fields)
    except ValueError as exc:  # pydantic's ValidationError, in both versions
        raise PayloadError(f"webhook body rejected: {_one_line(exc)}") from exc


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return type(value).__name__


def _decode(body: Union[bytes, str, Mapping[str, Any]]) -> Dict[str, Any]:
    if isinstance(body, Mapping):
        return str_map(body)
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"webhook body is not valid UTF-8 (byte {exc.start})") from exc
    elif isinstance(body, str):
        text = body
    else:
        raise PayloadError(f"webhook body must be bytes, str or a mapping, not {_json_type(body)}")
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise PayloadError("webhook body is nested too deeply") from exc
    except ValueError as exc:
        raise PayloadError(f"webhook body is not valid JSON: {_one_line(exc)}") from exc
    if not isinstance(data, dict):
        raise PayloadError(f"webhook body must be a JSON object, not {_json_type(data)}")
    return data


def _classify(api: str, event: str, data: Mapping[str, Any]) -> Tuple[EventKind, bool]:
    """The kind of event, and whether it marks a contact's opt-in / first contact."""
    if api == "legacy" and event == "message_sent":
        # `success: false` means "Not delivered"; absent counts as sent.
        return (_K.failed if data.get("success") is False else _K.delivered), False
    table = _CURRENT_EVENTS if api == "current" else _LEGACY_EVENTS
    kind = table.get(event, _K.unknown)
    opt_in = kind is _K.conversation_started or (
        kind is _K.message and data.get("type") == "opt_in"
    )
    return kind, opt_in


def _required_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise PayloadError(f"'{key}' must be a string, not {_json_type(value)}")


def _first_str(data: Mapping[str, Any], *keys: str) -> str | None:
    """The first non-empty string among `keys`: the two generations' names for one field."""
    for key in keys:
        value = opt_str(data.get(key))
        if value:
            return value
    return None


def _normalize(data: Dict[str, Any]) -> Dict[str, Any]:
    key = "event" if "event" in data else "alert_type" if "alert_type" in data else None
    if key is None:
        raise PayloadError("webhook body has neither 'event' nor 'alert_type'")
    api = "current" if key == "event" else "legacy"
    event = _required_str(data, key)
    if event is None:
        raise PayloadError(f"'{key}' must be a string, not null")
    kind, opt_in = _classify(api, event, data)
    contact = _first_str(data, "contact", "recipient")
    group = group_input(data.get("group"))
    if kind in _NEEDS_PEER:
        if data.get("group") is not None and group is None:
            raise PayloadError(f"{event}: 'group' has no string id")
        if contact is None and group is None:
            raise PayloadError(f"{event} without a contact or group")
    reaction = opt_str(data.get("reaction"))
    language, speech = data.get("language"), data.get("speech")
    return {
        "api": api,
        "event": event,
        "kind": kind,
        "webhook_id": _required_str(data, "webhook_id"),
        "message_id": _required_str(data, "message_id"),
        "contact": contact,
        "group": group,
        "text": opt_str(data.get("text")) or "",
        "subject": opt_str(data.get("subject")),
        "attachments": str_list(data.get("attachments")),
        "message_type": opt_str(data.get("message_type")),
        "channel": _first_str(data, "channel", "delivery_type"),
        "reaction": _REACTION_ALIASES.get(reaction, reaction) if reaction else reaction,
        "thread_id": opt_str(data.get("thread_id")),
        "error_code": opt_int(data.get("error_code")),
        "success": opt_bool(data.get("success")),
        "passthrough": opt_str(data.get("passthrough")),
        "sender": _first_str(data, "sender", "sender_name"),
        "language": str_map(language) if isinstance(language, Mapping) else None,
        "speech": str_map(speech) if isinstance(speech, Mapping) else None,
        "sandbox": opt_bool(data.get("sandbox")),
        "opt_in": opt_in,
        "parameters": str_map(data.get("parameters")),
        "organization_id": opt_str(data.get("organization_id")),
        "raw": data,
    }
