"""Which webhooks were already handled: one small interface, two backends.

LoopMessage re-sends a webhook with the same `webhook_id` until it gets a 200 (30 times over
about 3 h 05 min). A `webhook_id` is *claimed* before its turn is queued, *completed* once the
turn has run, and *released* when the turn failed or was cancelled, so that the next retry
runs it again. A claim that is still in progress is not answered with 200 (see channel.py):
LoopMessage keeps retrying until the turn is done, which is what makes a crash between ack and
turn recoverable.

`MemoryStore` is per process; `RedisStore` (SET NX with expiry) is shared by replicas, so a
retry that lands on another replica is still recognised.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional, Tuple

__all__ = ["Claim", "IdempotencyStore", "MemoryStore", "RedisStore", "create_store"]

_PENDING = "pending"
_DONE = "done"


class Claim(enum.Enum):
    """Outcome of `claim`: run it, it is running elsewhere, or it was handled already."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class IdempotencyStore:
    """Base class: `claim`, `complete`, `release`, `aclose`."""

    async def claim(self, key: str) -> Claim:
        raise NotImplementedError

    async def complete(self, key: str) -> None:
        raise NotImplementedError

    async def release(self, key: str) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


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

    async def claim(self, key: str) -> Claim:
        now = self._clock()
        self._expire(now)
        found = self._entries.get(key)
        if found is not None and found[1] > now:
            return Claim.DONE if found[0] == _DONE else Claim.IN_PROGRESS
        self._put(key, _PENDING, self._lease)
        return Claim.NEW

    async def complete(self, key: str) -> None:
        self._put(key, _DONE, self._ttl)

    async def release(self, key: str) -> None:
        found = self._entries.get(key)
        if found is not None and found[0] == _PENDING:
            del self._entries[key]


# Delete the key only if it still holds this claim's own pending token.
_RELEASE_SCRIPT = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0
"""


class RedisStore(IdempotencyStore):
    """Shared store: `SET key pending:<token> NX EX lease`, then `done` for the TTL.

    The pending lease is short (default 10 min): if the replica that claimed a webhook dies,
    a LoopMessage retry after the lease runs the turn elsewhere instead of being dropped.
    Each claim holds its own token, so a replica whose lease ran out while its turn was still
    running cannot release the claim another replica has taken over since (a blind delete
    would let a third retry run the turn once more).
    """

    prefix = "rasa_imessage:webhook:"

    def __init__(
        self, url: str, ttl_seconds: int = 21600, *, lease_seconds: int = 600, client: Any = None
    ) -> None:
        if client is None:
            try:
                import redis.asyncio as redis_asyncio
            except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
                raise RuntimeError(
                    "dedupe_store is a redis:// URL but the redis package is missing; "
                    "pip install 'rasa-imessage[redis]'"
                ) from exc
            client = redis_asyncio.from_url(url, decode_responses=True)
        self._redis = client
        self._ttl = int(ttl_seconds)
        self._lease = int(lease_seconds)
        self._tokens: Dict[str, str] = {}  # key -> the pending value of this store's claim

    async def claim(self, key: str) -> Claim:
        name = self.prefix + key
        token = f"{_PENDING}:{uuid.uuid4().hex}"
        for _ in range(2):  # once more if the key expired between SET and GET
            if await self._redis.set(name, token, nx=True, ex=self._lease):
                self._tokens[key] = token
                return Claim.NEW
            state = await self._redis.get(name)
            if state is not None:
                return Claim.DONE if state == _DONE else Claim.IN_PROGRESS
        return Claim.IN_PROGRESS

    async def complete(self, key: str) -> None:
        self._tokens.pop(key, None)
        await self._redis.set(self.prefix + key, _DONE, ex=self._ttl)

    async def release(self, key: str) -> None:
        token = self._tokens.pop(key, None)
        if token is not None:
            await self._redis.eval(_RELEASE_SCRIPT, 1, self.prefix + key, token)

    async def aclose(self) -> None:
        close = getattr(self._redis, "aclose", None) or self._redis.close
        await close()


def create_store(url: str, ttl_seconds: int, max_entries: int) -> IdempotencyStore:
    """`memory` or a redis URL, as configured by `dedupe_store`."""
    if url == "memory":
        return MemoryStore(ttl_seconds, max_entries)
    return RedisStore(url, ttl_seconds)
