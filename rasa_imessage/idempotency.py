"""Which webhooks were already handled: one small interface, two backends.

LoopMessage re-sends a webhook with the same `webhook_id` until it gets a 200 (30 times over
about 3 h 05 min). A `webhook_id` is *claimed* before its turn is queued, *completed* once the
turn has run, and *released* when the turn failed, so that the next retry runs it again. A
claim that is still in progress is not answered with 200 (see channel.py), so LoopMessage keeps
retrying a webhook whose turn is running elsewhere.

`MemoryStore` is per process; `RedisStore` (redis_store.py) is shared by replicas, so a
retry that lands on another replica is still recognised. It also keeps the body of each
webhook whose turn has not completed, because a webhook is acked before its turn runs and
LoopMessage does not re-send an acked webhook: a replica that dies (or shuts down before the
turn finishes) would lose it. Its claim is a lease that the living replica renews
(`maintain`); once the lease runs out, another replica's `maintain` takes the claim over and
hands back the body, so the turn runs there.
"""

from __future__ import annotations

import enum
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, List, Optional, Tuple

if TYPE_CHECKING:
    from .config import IMessageConfig

__all__ = [
    "DONE",
    "MAX_RECOVERIES",
    "PENDING",
    "Claim",
    "IdempotencyStore",
    "MemoryStore",
    "Recovered",
    "StoreUnavailable",
    "configured_store",
    "create_store",
]

PENDING = "pending"
DONE = "done"
# A webhook whose turn never completes after this many take-overs (it crashes its replica
# every time, say) is given up rather than passed around until the TTL.
MAX_RECOVERIES = 3


class StoreUnavailable(Exception):
    """The shared store did not answer; the webhook is deferred (503) for LoopMessage's retry."""


class Claim(enum.Enum):
    """Outcome of `claim`: run it, it is running elsewhere, or it was handled already."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"


@dataclass(frozen=True)
class Recovered:
    """A webhook taken over from a replica that died: its body, or None when given up."""

    key: str
    body: Optional[str]
    attempt: int


class IdempotencyStore:
    """Base class: `claim`, `complete`, `release`, `abandon`, `maintain`, `aclose`.

    A store that cannot be reached raises `StoreUnavailable` from any of them, so callers
    handle one failure whatever the store is made of."""

    # Seconds between `maintain` calls; None: this store has nothing to maintain.
    maintenance_interval: Optional[float] = None
    # Shared by replicas: each sees only some turns of a conversation.
    shared: bool = False

    async def claim(self, key: str, body: Optional[str] = None) -> Claim:
        """Reserve `key`; `body` (the raw webhook) is kept where another replica can use it."""
        raise NotImplementedError

    async def complete(self, key: str) -> None:
        raise NotImplementedError

    async def release(self, key: str) -> None:
        raise NotImplementedError

    async def abandon(self, key: str) -> None:
        """Give up a claim whose turn was cancelled (shutdown): recover it elsewhere if possible."""
        await self.release(key)

    async def maintain(self, take_over: bool = True) -> List[Recovered]:
        """Renew this process's claims; take over those of replicas that stopped renewing."""
        return []

    async def aclose(self) -> None:
        return None

    def hand_over(self, key: str) -> Optional[str]:
        """Give up holding the claim on `key` to another process (`webhook_port`); returns
        what that process's `adopt` needs, None when the claim cannot move."""
        return None

    def adopt(self, key: str, token: Optional[str]) -> None:
        """Hold the claim another process's `hand_over` gave up: renew it, end it."""


class MemoryStore(IdempotencyStore):
    """In-process store with a TTL and a ceiling on entries (oldest dropped first).

    Entries are kept in insertion order; every entry lives for the same TTL, so the oldest
    entry is also the first to expire and expiry is a cheap scan from the front.
    """

    def __init__(
        self,
        ttl_seconds: float = 21600,
        max_entries: int = 200000,
        *,
        lease_seconds: Optional[float] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._lease = lease_seconds if lease_seconds is not None else ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, Tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _expire(self, now: float) -> None:
        entries = self._entries
        while entries:
            key, (_, expires) = next(iter(entries.items()))
            if expires > now:
                break
            del entries[key]

    def _put(self, key: str, state: str, lifetime: float) -> None:
        self._entries[key] = (state, self._clock() + lifetime)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def claim(self, key: str, body: Optional[str] = None) -> Claim:
        now = self._clock()
        self._expire(now)
        found = self._entries.get(key)
        if found is not None and found[1] > now:
            return Claim.DONE if found[0] == DONE else Claim.IN_PROGRESS
        self._put(key, PENDING, self._lease)
        return Claim.NEW

    async def complete(self, key: str) -> None:
        self._put(key, DONE, self._ttl)

    async def release(self, key: str) -> None:
        found = self._entries.get(key)
        if found is not None and found[0] == PENDING:
            del self._entries[key]


def create_store(
    url: str, ttl_seconds: int, max_entries: int, lease_seconds: float = 60
) -> IdempotencyStore:
    """`memory` or a redis URL, as configured by `dedupe_store`."""
    if url == "memory":
        # One process: its claims cannot outlive it, so they need no lease.
        return MemoryStore(ttl_seconds, max_entries)
    from .redis_store import RedisStore  # redis-py is an extra: imported only when used

    return RedisStore(url, ttl_seconds, lease_seconds=lease_seconds)


def configured_store(config: IMessageConfig) -> IdempotencyStore:
    """The store the channel's `dedupe_*` settings describe (Rasa's port and the webhook
    port's process both build theirs here)."""
    return create_store(
        config.dedupe_store,
        config.dedupe_ttl_seconds,
        config.dedupe_max_entries,
        config.dedupe_lease_seconds,
    )
