"""Opt-in links, as LoopMessage's generate-url endpoint makes them (current API).

A link carries a message with a code in it. A person who opens the link gets the message
ready to send; sending it is the opt-in, and its webhook says so (``type: "opt_in"``) and
carries back the fields the link was made with (``parameters``).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import quote

from rasa_imessage.loopmessage import OPT_IN_CODE

from .config import EmulatorConfig
from .events import JsonDict
from .validation import reject

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread


@dataclass
class OptInLink:
    """One generated link: its id, the code in its message, and what comes back."""

    id: str
    code: str
    text: str  # the message, the code in place of the placeholder
    parameters: dict[str, Any]
    opted_in: set[str] = field(default_factory=set)  # contacts who sent it


def new_link(body: Any) -> OptInLink:
    """Check a generate-url body as LoopMessage does and make its link; Rejection if not."""
    if not isinstance(body, dict):
        raise reject("current", "bad_request", "The request body must be a JSON object")
    text = body.get("body")
    if not isinstance(text, str) or not text.strip():
        raise reject("current", "missing_param", "body is required")
    if OPT_IN_CODE not in text:
        raise reject("current", "missing_param", f"body must contain {OPT_IN_CODE}")
    sender_type = body.get("sender_type")
    if sender_type not in (None, "shared"):
        raise reject("current", "bad_param", "sender_type must be 'shared'")
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
    parameters = {key: value for key, value in body.items() if key not in ("body", "sender_type")}
    return OptInLink(str(uuid.uuid4()), code, text.replace(OPT_IN_CODE, code), parameters)


def links_json(link: OptInLink, base_url: str, config: EmulatorConfig) -> JsonDict:
    """The 200 body: the page to share, and links that open each app with the message."""
    message = quote(link.text)
    return {
        "id": link.id,
        "imessage": f"imessage://{config.sender_name}&body={message}",
        "sms": f"sms:{config.sender_name}&body={message}",
        "whatsapp": f"whatsapp://send?text={message}",
        "url": f"{base_url}/opt-in/{link.id}",
    }


def opt_in_of(text: str, contact: str, links: Mapping[str, OptInLink]) -> OptInLink | None:
    """The link whose code `text` holds, if `contact` has not sent it before; else None."""
    for link in links.values():
        if link.code in text and contact not in link.opted_in:
            return link
    return None
