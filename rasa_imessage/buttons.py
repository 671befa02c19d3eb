"""Buttons on a channel that has none: a numbered list out, the number (or title) back in.

The bot's buttons are rendered as "1. Yes" lines under its text. When the user answers with
a number, a keycap emoji or a button's title, the connector hands Rasa that button's payload
instead of the text. Which buttons are on offer is read from the last bot turn in the tracker
store, so it survives restarts and works across replicas sharing a tracker store.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence  # isinstance: typing's aliases check slower
from typing import Any, Iterable, List, Optional

__all__ = [
    "Button",
    "buttons_from_events",
    "match_button",
    "offered_buttons",
    "render_buttons",
]

Button = Mapping[str, Any]

_KEYCAP = "\u20e3"
_NUMBER = re.compile(r"^#?\s*(\d{1,2})\s*[.)]?$")
# Longest reply that could still be a button answer; longer text goes straight to NLU.
MAX_REPLY_LENGTH = 200


def offered_buttons(message: Mapping[str, Any]) -> List[Button]:
    """Every button one bot message offers, in the order they are numbered.

    Quick replies win over buttons (Rasa's dispatch sends only the quick replies when both
    are present); the buttons of carousel elements follow, numbered on from there.
    """
    offered = [
        button
        for button in (message.get("quick_replies") or message.get("buttons") or [])
        if isinstance(button, Mapping)
    ]
    for element in message.get("elements") or []:
        if isinstance(element, Mapping):
            offered.extend(b for b in element.get("buttons") or [] if isinstance(b, Mapping))
    return offered


def render_buttons(text: Optional[str], buttons: Sequence[Button], *, start: int = 1) -> str:
    """The bot's text followed by a numbered list of button titles."""
    lines = [f"{index}. {_title(button)}" for index, button in enumerate(buttons, start=start)]
    listing = "\n".join(lines)
    return f"{text.rstrip()}\n\n{listing}" if text and text.strip() else listing


def _title(button: Button) -> str:
    title = button.get("title")
    return str(title).strip() if title not in (None, "") else str(button.get("payload", ""))


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return " ".join(text.casefold().split()).strip(" .!?")


def _number_of(reply: str) -> Optional[int]:
    compact = reply.replace("\ufe0f", "").strip()
    if compact == "\U0001f51f":  # the keycap ten emoji
        return 10
    if compact.endswith(_KEYCAP):
        compact = compact[:-1]
    match = _NUMBER.match(compact)
    return int(match.group(1)) if match else None


def match_button(reply: str, buttons: Sequence[Button]) -> Optional[str]:
    """The payload of the button the user's reply picks, or None."""
    if not buttons or not reply or len(reply) > MAX_REPLY_LENGTH:
        return None
    number = _number_of(reply)
    if number is not None and 1 <= number <= len(buttons):
        return _payload(buttons[number - 1])
    # Out of range, it may still be a title: "20" among buttons titled "10", "20", "30".
    wanted = _normalise(reply)
    for button in buttons:
        if wanted and _normalise(_title(button)) == wanted:
            return _payload(button)
    return None


def _payload(button: Button) -> Optional[str]:
    """A button without a payload picks nothing: the reply then goes to NLU as text."""
    payload = button.get("payload")
    return str(payload) if payload not in (None, "") else None


def buttons_from_events(events: Iterable[Any]) -> List[Button]:
    """Buttons (or quick replies) of the last bot message that offered any, in the last bot turn.

    Works on Rasa tracker events by duck typing (`type_name`, `data`), so it needs no Rasa
    import to test. Only the bot messages after the latest user message count: once the user
    has answered, an older offer is no longer on the table.
    """
    offered: List[Button] = []
    for event in events:
        kind = getattr(event, "type_name", None)
        if kind == "user":
            offered = []
        elif kind == "bot":
            choices = offered_buttons(getattr(event, "data", None) or {})
            if choices:
                offered = choices
    return offered
