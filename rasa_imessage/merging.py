"""Bubbles sent in a row, gathered into one Rasa turn (`merge_window`).

People split a thought over several bubbles, and iMessage sends "look at this" and the link
after it as two messages a second or more apart. Answered one by one, the bot replies to
the first half before the second arrives. With `merge_window` set, a text or attachment
message waits until the contact has sent nothing for that many seconds, and the bubbles
that came meanwhile reach Rasa as one message: their texts joined by newlines, their
attachments together, the other fields those of the last bubble. Every bubble is still
acked at once and claimed by its own webhook id; the turn ends all their claims together.

Only one-to-one conversations are gathered (in a group the bubbles may be different
people's), and only plain text and attachment messages: a reaction, a voice note, an
opt-in or anything else closes the gathering and goes in its own turn after it, so
arrival order holds.

`merge_mode: lead_ins` (the default) holds only a bubble that announces more: one ending
with a colon, a comma, a dash or an ellipsis, one whose last word cannot end a sentence
("I want to", "ok so"), or a short one pointing at what comes ("look at this"). The next
bubble that does not announce more (the link, the photo, the rest of the sentence) joins
it and the turn starts at once; every other bubble is answered without waiting. With
`merge_mode: all` every text or attachment bubble waits for the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any, Dict, List, Optional, Tuple

from .inbound import kept_metadata
from .lending import idle_wait
from .loopmessage import EventKind, InboundEvent, model_copy

__all__ = ["MAX_BUBBLES", "Bubbles", "leads_in", "mergeable", "merged", "with_bubble_ids"]

# Bubbles gathered into one turn at most; the next one starts a turn of its own. It bounds
# what one conversation holds and how long its first bubble can wait.
MAX_BUBBLES = 10


def mergeable(event: InboundEvent) -> bool:
    """A plain text or attachment message of a one-to-one conversation."""
    return (
        event.kind is EventKind.message
        and event.group is None
        and bool(event.contact)
        and not event.opt_in
        and event.speech is None
        and not event.reaction
        and bool(event.text.strip() or event.attachments)
    )


# A link in a bubble: it is what a lead-in announced, never a lead-in itself.
_LINK = re.compile(r"(?i)\b(?:https?://|www\.)\S")
# Closing punctuation (quotes and brackets after it allowed): the sentence is complete.
_CLOSED = re.compile(r"""[.!?\u3002\uff01\uff1f]["'\u2019\u201d)\]]*$""")
# Trailing marks that announce more: a colon, a comma, a dash, an ellipsis.
_OPEN_END = re.compile(r"(?:[:,;\u2013\u2014-]|\.\.\.|\u2026)$")
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
# Words a sentence does not end on: the thought goes on in the next bubble.
_DANGLING = frozenset([
    "a", "an", "the", "and", "or", "but", "so", "because", "cause", "cuz", "to", "of", "for",
    "with", "from", "about", "into", "than", "my", "your", "our", "their", "his", "her", "its",
    "if", "when", "whether", "is", "are", "was", "were", "um", "uh", "umm", "also", "plus",
])  # fmt: skip
# Words pointing at what comes next: a bubble of two to four words with one of them leads
# in ("look at this", "see below"). Alone, a word is an answer or a command ("here", "this").
_POINTING = frozenset(
    ["this", "these", "here", "here's", "heres", "below", "following", "attached"]
)
_POINTING_WORDS = range(2, 5)


def leads_in(event: InboundEvent) -> bool:
    """A text-only bubble that announces more: "look at this", "I want to", "so:".

    A false guess costs that one bubble `merge_window` of waiting; a missed one leaves
    the bubble a turn of its own, as without merging."""
    text = event.text.strip()
    if event.attachments or not text or _LINK.search(text):
        return False
    if _OPEN_END.search(text):
        return True
    if _CLOSED.search(text):
        return False
    words = [word.casefold().replace("\u2019", "'") for word in _WORD.findall(text)]
    if not words:
        return False  # emoji or digits: an answer, not a lead-in
    if words[-1] in _DANGLING:
        return True
    return len(words) in _POINTING_WORDS and not _POINTING.isdisjoint(words)


class Bubbles:
    """One conversation's bubbles gathered for one turn, and their claims."""

    def __init__(self, event: InboundEvent, key: Optional[str]) -> None:
        self.events: List[InboundEvent] = [event]
        self.keys: List[str] = [key] if key is not None else []
        self.open = True  # still taking bubbles
        self._last = asyncio.get_running_loop().time()
        self._closed = asyncio.Event()

    def add(self, event: InboundEvent, key: Optional[str]) -> bool:
        """Take one more bubble; False once closed or full (it then starts a turn of its own)."""
        if not self.open or len(self.events) >= MAX_BUBBLES:
            return False
        self.events.append(event)
        if key is not None:
            self.keys.append(key)
        self._last = asyncio.get_running_loop().time()
        return True

    def close(self) -> None:
        """No more bubbles: another kind of event came, the turn was cancelled, or it starts."""
        self.open = False
        self._closed.set()

    async def gathered(self, window: float) -> List[InboundEvent]:
        """Wait until no bubble came for `window` seconds (or until closed), then close.

        The turn holds no place among those computing meanwhile (lending.py).
        """
        loop = asyncio.get_running_loop()
        async with idle_wait():
            while not self._closed.is_set() and len(self.events) < MAX_BUBBLES:
                left = self._last + window - loop.time()
                if left <= 0:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), left)
        self.close()
        return list(self.events)


def merged(events: List[InboundEvent]) -> InboundEvent:
    """One event for a turn: the texts joined by newlines, every attachment in order, and
    the last bubble's other fields (its message id is the one a reply threads to)."""
    if len(events) == 1:
        return events[0]
    text = "\n".join(event.text.strip() for event in events if event.text.strip())
    attachments = [url for event in events for url in event.attachments]
    return model_copy(events[-1], {"text": text, "attachments": attachments})


def with_bubble_ids(
    metadata: Dict[str, Any], events: List[InboundEvent], keys: Optional[Tuple[str, ...]]
) -> Dict[str, Any]:
    """A gathered turn's metadata also names every bubble in it (`message_ids`), unless
    `metadata_keys` leaves that key out."""
    if len(events) < 2:
        return metadata
    ids = [event.message_id for event in events if event.message_id]
    return {**metadata, **kept_metadata({"message_ids": ids}, keys)}
