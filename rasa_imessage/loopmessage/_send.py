"""Outbound sends: one request vocabulary, validated here (written out per generation in
_bodies.py).

`SendRequest.create` refuses what LoopMessage would refuse (or silently truncate),
naming the field, so that the bot developer reads "effect: must be one of ..."
instead of "LoopMessage error 580". Limits come from the send-message pages of both
generations (§A3-A6, §B3-B4 of the reference).
"""

from __future__ import annotations

# Model fields keep typing.Optional: pydantic 1 evaluates annotations at run time, and
# Rasa 3.6 also runs on Python 3.8 and 3.9, where `str | None` does not evaluate.
import posixpath
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from pydantic import Field

from ._compat import _Model, construct
from ._errors import InvalidRequestError
from ._media_urls import LOCAL_URLS, check_url

__all__ = [
    "AUDIO_EXTENSIONS",
    "CHANNELS",
    "EFFECTS",
    "LEGACY_CHANNELS",
    "MAX_ATTACHMENTS",
    "MAX_PASSTHROUGH_LENGTH",
    "MAX_TEXT_LENGTH",
    "REACTIONS",
    "SendRequest",
]

# "Must be under 10 000 characters; the excess is truncated" (both generations).
MAX_TEXT_LENGTH = 10_000
# "≤ 1000 chars of your metadata" (both generations).
MAX_PASSTHROUGH_LENGTH = 1000
# Current send docs say 5 (docs-beta and campaigns say 3); legacy says 3.
MAX_ATTACHMENTS: Dict[str, int] = {"current": 5, "legacy": 3}
EFFECTS = (
    "slam",
    "loud",
    "gentle",
    "invisibleInk",
    "echo",
    "spotlight",
    "balloons",
    "confetti",
    "love",
    "lasers",
    "fireworks",
    "shootingStar",
    "celebration",
)
_BASE_REACTIONS = ("love", "like", "dislike", "laugh", "emphasize", "question")
# A "-" prefix removes the tapback.
REACTIONS = _BASE_REACTIONS + tuple("-" + reaction for reaction in _BASE_REACTIONS)
CHANNELS = ("imessage", "sms", "rcs", "whatsapp")
AUDIO_EXTENSIONS = ("mp3", "wav", "m4a", "caf", "aac")
LEGACY_CHANNELS = ("imessage", "sms")

_STR_FIELDS = (
    "contact",
    "group",
    "text",
    "subject",
    "effect",
    "reply_to_id",
    "media_url",
    "reaction",
    "message_id",
    "channel",
    "passthrough",
    "sender",
)
_FIELDS = frozenset((*_STR_FIELDS, "attachments"))


class SendRequest(_Model):
    """One outbound message in neutral words; `to_current_body`/`to_legacy_body` write it.

    Build it with `SendRequest.create(...)`, which validates; a request that has
    passed `create` is one LoopMessage can accept, except for the attachment count,
    whose limit depends on the generation (`MAX_ATTACHMENTS`, checked by the client).
    """

    contact: Optional[str] = None
    group: Optional[str] = None
    text: str = ""
    subject: Optional[str] = None
    attachments: List[str] = Field(default_factory=list)
    effect: Optional[str] = None
    reply_to_id: Optional[str] = None
    media_url: Optional[str] = None
    reaction: Optional[str] = None
    message_id: Optional[str] = None
    channel: Optional[str] = None
    passthrough: Optional[str] = None
    sender: Optional[str] = None

    @classmethod
    def create(cls, *, local_urls: bool = False, **fields: Any) -> SendRequest:
        """Validate and build; raises InvalidRequestError naming the first bad field.

        `local_urls` accepts http(s) URLs on loopback hosts: only for a LoopMessage stand-in
        on this machine (the emulator serves uploads there), never for LoopMessage itself.
        """
        data = _typed_fields(fields)
        token = LOCAL_URLS.set(local_urls)
        try:
            for check in _CHECKS:
                check(data)
        finally:
            LOCAL_URLS.reset(token)
        return construct(cls, data)  # every field is type-checked by `_typed_fields`


def _typed_fields(fields: Mapping[str, Any]) -> Dict[str, Any]:
    """Known fields with the right types; None and "" mean "not given" (text excepted)."""
    for name in fields:
        if name not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise InvalidRequestError(name, f"unknown field; a send takes {known}")
    data: Dict[str, Any] = {}
    for name, value in fields.items():
        if value is None or (value == "" and name != "text"):
            continue
        if name == "attachments":
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise InvalidRequestError(name, "must be a list of https:// URL strings")
            value = list(value)
        elif not isinstance(value, str):
            raise InvalidRequestError(name, f"must be a string, not {type(value).__name__}")
        data[name] = value
    if "channel" in data:
        data["channel"] = data["channel"].lower()
    return data


def _check_target(data: Dict[str, Any]) -> None:
    if "contact" in data and "group" in data:
        raise InvalidRequestError("contact", "give either contact or group, not both")
    if "contact" not in data and "group" not in data:
        raise InvalidRequestError(
            "contact", "a send needs a contact (phone with country code or email) or a group id"
        )


def _check_content(data: Dict[str, Any]) -> None:
    if not (
        data.get("text") or data.get("attachments") or "media_url" in data or "reaction" in data
    ):
        raise InvalidRequestError("text", "a send needs text, attachments, media_url or a reaction")
    length = len(data.get("text", ""))
    if length > MAX_TEXT_LENGTH:
        raise InvalidRequestError(
            "text",
            f"is {length} characters; LoopMessage takes under 10 000 and truncates the rest, "
            "so split it",
        )


def _check_attachments(data: Dict[str, Any]) -> None:
    for index, url in enumerate(data.get("attachments", ())):
        check_url("attachments", url, f"item {index} ")


def _check_media(data: Dict[str, Any]) -> None:
    url = data.get("media_url")
    if url is None:
        return
    check_url("media_url", url)
    extension = posixpath.splitext(urlsplit(url).path)[1].lower().lstrip(".")
    if extension not in AUDIO_EXTENSIONS:
        raise InvalidRequestError(
            "media_url", f"must end in .{', .'.join(AUDIO_EXTENSIONS)} (a voice message)"
        )
    if data.get("attachments"):
        raise InvalidRequestError(
            "media_url", "a voice message cannot carry attachments; send them separately"
        )


def _check_effect(data: Dict[str, Any]) -> None:
    effect = data.get("effect")
    if effect is not None and effect not in EFFECTS:
        raise InvalidRequestError(
            "effect", f"must be one of {', '.join(EFFECTS)} (case-sensitive), not {effect!r}"
        )


def _check_reaction(data: Dict[str, Any]) -> None:
    reaction = data.get("reaction")
    if reaction is None:
        if "message_id" in data:
            raise InvalidRequestError(
                "message_id",
                "is the message a reaction reacts to; for a threaded reply use reply_to_id",
            )
        return
    if reaction not in REACTIONS:
        better = " (write emphasize for !!)" if reaction.lstrip("-") == "exclaim" else ""
        raise InvalidRequestError(
            "reaction",
            f"must be one of {', '.join(_BASE_REACTIONS)}, or one of them prefixed with - "
            f"to remove it{better}",
        )
    if "message_id" not in data:
        raise InvalidRequestError(
            "message_id", "a reaction needs the message_id of the message it reacts to"
        )
    if "effect" in data:
        raise InvalidRequestError(
            "effect", "cannot go with a reaction (LoopMessage error 620); send them separately"
        )
    if data.get("text") or data.get("attachments") or "media_url" in data:
        raise InvalidRequestError(
            "reaction", "is sent on its own; send text, attachments or media_url separately"
        )


def _check_limits(data: Dict[str, Any]) -> None:
    passthrough = data.get("passthrough", "")
    if len(passthrough) > MAX_PASSTHROUGH_LENGTH:
        raise InvalidRequestError(
            "passthrough",
            f"is {len(passthrough)} characters; LoopMessage takes at most {MAX_PASSTHROUGH_LENGTH}",
        )
    channel = data.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise InvalidRequestError("channel", f"must be one of {', '.join(CHANNELS)}")


_CHECKS: Tuple[Callable[[Dict[str, Any]], None], ...] = (
    _check_target,
    _check_content,
    _check_attachments,
    _check_media,
    _check_effect,
    _check_reaction,
    _check_limits,
)
