"""Reading a conversation's events from Rasa's tracker store, for what this process does not
keep itself (a restart, another replica's turns).

The tracker store is the user's: a store that fails costs a log line and an empty answer,
never the reply.
"""

from __future__ import annotations

import logging
from typing import Any, List

__all__ = ["tracker_events"]

logger = logging.getLogger(__name__)


async def tracker_events(agent: Any, conversation: str, purpose: str) -> List[Any]:
    """The conversation's events, or [] when there is no store, no tracker, or the store
    failed (logged with `purpose`)."""
    store = getattr(agent, "tracker_store", None)
    if store is None:
        store = getattr(getattr(agent, "processor", None), "tracker_store", None)
    if store is None:
        return []
    try:
        tracker = await store.retrieve(conversation)
    except Exception:  # the tracker store is the user's: never let it cost the reply
        logger.exception("could not read the tracker %s", purpose)
        return []
    return list(tracker.events) if tracker is not None else []
