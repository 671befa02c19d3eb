"""Which of the organization's senders each conversation writes to (current API).

An organization may have several senders (phone numbers, Apple IDs) behind one API key.
A send that names none goes from a sender LoopMessage picks, and a reply from another
sender than the one the contact wrote to opens a second thread on their phone, or is
refused (code 520) where that sender has never talked with them. Each webhook names the
sender it came to; the replies of its turn, and later pushes and delivery-failed answers to
that conversation, go from it. A push to a conversation this process has not seen (after
a restart, or another replica's) reads it from the tracker's last user message; the
configured `sender` covers the rest.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any, Iterable, Optional

from .trackers import tracker_events

__all__ = ["ReplySenders", "sender_in_events"]


class ReplySenders:
    """conversation -> the sender id its last webhook came to; the conversation that wrote
    least recently is forgotten first."""

    def __init__(self, max_conversations: int = 50000) -> None:
        if max_conversations < 1:
            raise ValueError("max_conversations must be at least 1")
        self._max = max_conversations
        self._senders: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._senders)

    def remember(self, conversation: str, sender: str) -> None:
        # Interned: an organization has a handful of senders and many conversations.
        self._senders[conversation] = sys.intern(sender)
        self._senders.move_to_end(conversation)
        while len(self._senders) > self._max:
            self._senders.popitem(last=False)

    async def known(self, conversation: str) -> Optional[str]:
        """A turn's lookup: what this process saw (the turn's own webhook remembered it)."""
        return self._senders.get(conversation)

    async def read(self, agent: Any, conversation: str) -> Optional[str]:
        """A push's lookup: what this process saw, else the tracker's last user message."""
        sender = self._senders.get(conversation)
        if sender is None:
            events = await tracker_events(agent, conversation, "to find its sender")
            sender = sender_in_events(events)
            if sender is not None:
                self.remember(conversation, sender)
        return sender


def sender_in_events(events: Iterable[Any]) -> Optional[str]:
    """The sender the last user message with one came to (`sender` in its metadata), by
    duck typing on Rasa's events (`type_name`, `metadata`)."""
    for event in reversed(list(events)):
        if getattr(event, "type_name", None) != "user":
            continue
        sender = (getattr(event, "metadata", None) or {}).get("sender")
        if isinstance(sender, str) and sender:
            return sender
    return None
