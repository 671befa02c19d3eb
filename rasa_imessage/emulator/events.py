"""A fan-out of state changes to every listener: the chat page's SSE stream and tests.

Tests wait on these events instead of sleeping, so every change the page can show is
published here first.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Dict

logger = logging.getLogger(__name__)

JsonDict = Dict[str, Any]

# A page that stops reading must not grow memory without bound; it reloads its state instead.
_QUEUE_LIMIT = 1000


@dataclass(frozen=True)
class Event:
    """One change: ``kind`` names it (message, conversation, typing, log, faults, reset)."""

    kind: str
    data: JsonDict


class Subscription:
    """One listener's queue. ``None`` in the queue means the bus closed."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(_QUEUE_LIMIT)

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next event, or None once the bus has closed."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 10.0) -> Event:
        """Skip events until one matches; raise TimeoutError if none does in time."""

        async def match() -> Event:
            while True:
                event = await self.queue.get()
                if event is None:
                    raise RuntimeError("the emulator stopped while waiting for an event")
                if predicate(event):
                    return event

        return await asyncio.wait_for(match(), timeout)


class EventBus:
    """Publishes to every subscription without ever blocking the publisher."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self.closed = False

    def subscribe(self) -> Subscription:
        subscription = Subscription()
        if self.closed:
            subscription.queue.put_nowait(None)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    @asynccontextmanager
    async def subscription(self) -> AsyncIterator[Subscription]:
        subscription = self.subscribe()
        try:
            yield subscription
        finally:
            self.unsubscribe(subscription)

    def publish(self, kind: str, data: JsonDict) -> None:
        event = Event(kind, data)
        for subscription in list(self._subscriptions):
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                logger.warning("dropping a slow event listener (%d events unread)", _QUEUE_LIMIT)
                self._subscriptions.discard(subscription)
                _end(subscription)

    def close(self) -> None:
        """End every stream, so that long-lived SSE responses return and shutdown is quick."""
        self.closed = True
        for subscription in list(self._subscriptions):
            _end(subscription)


def _end(subscription: Subscription) -> None:
    """Replace whatever is unread with the end marker: a closed stream needs no backlog."""
    while not subscription.queue.empty():
        subscription.queue.get_nowait()
    subscription.queue.put_nowait(None)
