"""Which of the organization's senders each conversation writes to (current API).

An organization may have several senders (phone numbers, Apple IDs) behind one API key.
A send that names none goes from a sender LoopMessage picks, and a reply from another
sender than the one the contact wrote to opens a second thread on their phone, or is
refused (code 520) where that sender has never talked with them. Each webhook names the
sender it came to; the replies of its turn, and later pushes and delivery-failed answers to
that conversation, go from it. The configured `sender` covers conversations this process
has not seen.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Optional

__all__ = ["ReplySenders"]


class ReplySenders:
    """conversation -> the sender id its last webhook came to; the least recently used
    conversation is forgotten first."""

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

    def get(self, conversation: str) -> Optional[str]:
        return self._senders.get(conversation)
