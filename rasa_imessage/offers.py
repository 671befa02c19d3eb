"""The buttons each conversation was offered last, kept in process for matching replies.

Rasa's tracker is the source of truth (`buttons_from_events`), but reading it for every
short message costs a tracker deserialisation that Rasa then does again for the turn
(BENCHMARKS.md). This cache holds the same answer and is kept current by the channel: the
output channel records each message with buttons as it sends it, and every turn clears its
conversation's offer (once the user has answered, an older offer is off the table, as in
`buttons_from_events`). A conversation the cache does not know (the process restarted, or
the entry was evicted) is read from the tracker once.

It is right only where this process sees every turn of its conversations. With a shared
dedupe store (several replicas behind Redis) another replica may have offered buttons
since, so the channel does not use it there and reads the tracker.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, List, Optional, Sequence, Tuple

from .buttons import Button, buttons_from_events
from .trackers import tracker_events

__all__ = ["ButtonOffers", "read_tracker_offer"]


class ButtonOffers:
    """conversation -> the buttons on the table (empty: none), else the tracker store.

    Bounded: the least recently used conversation is dropped first. `cached=False` (a
    shared dedupe store: replicas) knows no conversation, ignores what this process
    sends, and reads the tracker every time.
    """

    def __init__(self, *, cached: bool = True, max_conversations: int = 50000) -> None:
        if max_conversations < 1:
            raise ValueError("max_conversations must be at least 1")
        self.cached = cached
        self._max = max_conversations
        self._offers: OrderedDict[str, Tuple[Button, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._offers)

    def get(self, conversation: str) -> Optional[List[Button]]:
        """The buttons on the table, `[]` for none, or None when this process does not know."""
        offer = self._offers.get(conversation)
        if offer is None:
            return None
        self._offers.move_to_end(conversation)
        return list(offer)

    async def on_the_table(self, agent: Any, conversation: str) -> List[Button]:
        known = self.get(conversation)
        return known if known is not None else await read_tracker_offer(agent, conversation)

    def offered(self, conversation: str, buttons: Sequence[Button]) -> None:
        """The bot sent a message with buttons: they replace any earlier offer."""
        if buttons:
            self._put(conversation, buttons)

    def answered(self, conversation: str) -> None:
        """A turn of the user's started: nothing is on the table until the bot offers again."""
        self._put(conversation, ())

    def _put(self, conversation: str, buttons: Sequence[Button]) -> None:
        if not self.cached:
            return
        self._offers[conversation] = tuple(buttons)
        self._offers.move_to_end(conversation)
        while len(self._offers) > self._max:
            self._offers.popitem(last=False)


async def read_tracker_offer(agent: Any, conversation: str) -> List[Button]:
    """Buttons the bot offered last in this conversation, read from Rasa's tracker store."""
    return buttons_from_events(await tracker_events(agent, conversation, "to map a button reply"))
