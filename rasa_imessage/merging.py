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
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Dict, List, Optional, Tuple

from .inbound import kept_metadata
from .lending import idle_wait
from .loopmessage import EventKind, InboundEvent, model_copy

__all__ = ["MAX_BUBBLES", "Bubbles", "mergeable", "merged", "with_bubble_ids"]

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
