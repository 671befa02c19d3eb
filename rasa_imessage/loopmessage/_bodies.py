"""A `SendRequest` written out as the JSON body of each API generation's send endpoint.

The two generations name the same things differently (`contact`/`recipient`,
`channel`/`service`, `emphasize`/`exclaim`); the request was validated once, in _send.py.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ._errors import InvalidRequestError
from ._send import LEGACY_CHANNELS, SendRequest

__all__ = ["to_current_body", "to_legacy_body"]


def _compact(body: Dict[str, Any]) -> Dict[str, Any]:
    """Drop the optional fields that were not given: None, "" and []."""
    return {key: value for key, value in body.items() if value not in (None, "", [])}


def _content(req: SendRequest) -> Dict[str, Any]:
    """The fields of a text, attachment or voice send, shared by both generations."""
    return {
        "subject": req.subject,
        "attachments": list(req.attachments),
        "effect": req.effect,
        "reply_to_id": req.reply_to_id,
        "media_url": req.media_url,
        "passthrough": req.passthrough,
    }


def to_current_body(req: SendRequest, *, sender: Optional[str]) -> Dict[str, Any]:
    """The JSON body of `POST /api/v1/message/send/` on a.loopmessage.com.

    `sender` is the configured sender id; `req.sender` overrides it. A reaction
    carries no text; a voice message carries text only when given.
    """
    body: Dict[str, Any] = {"contact": req.contact, "group": req.group}
    if req.reaction is not None:
        body.update(message_id=req.message_id, reaction=req.reaction, passthrough=req.passthrough)
    else:
        body.update(_content(req))
    body.update(channel=req.channel, sender=req.sender or sender)
    body = _compact(body)
    if req.reaction is None and (req.text or req.media_url is None):
        body["text"] = req.text  # required by the text send, even when only attachments go
    return body


def _legacy_reaction(reaction: str) -> str:
    # The legacy API calls "!!" exclaim; the current one calls it emphasize.
    return reaction.replace("emphasize", "exclaim")


def to_legacy_body(req: SendRequest, *, sender_name: str) -> Dict[str, Any]:
    """The JSON body of `POST /api/v1/message/send/` on server.loopmessage.com.

    The legacy API always wants `text` (a reaction sends ""), names the channel
    `service` and knows only imessage and sms, and flags a voice message with
    `audio_message: true`.
    """
    if req.channel is not None and req.channel not in LEGACY_CHANNELS:
        raise InvalidRequestError("channel", "the legacy API sends only over imessage or sms")
    body: Dict[str, Any] = {"recipient": req.contact, "group": req.group}
    if req.reaction is not None:
        body.update(
            message_id=req.message_id,
            reaction=_legacy_reaction(req.reaction),
            passthrough=req.passthrough,
        )
    else:
        body.update(_content(req))
    body.update(service=req.channel, sender_name=req.sender or sender_name)
    body = _compact(body)
    body["text"] = req.text
    if req.media_url is not None:
        body["audio_message"] = True
    return body
