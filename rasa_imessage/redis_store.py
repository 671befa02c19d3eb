"""The idempotency store that replicas share: claims as leases in Redis, bodies kept.

idempotency.py says what a store does and why it keeps bodies; this is the Redis backend.
Each step is one Lua script, so it is atomic on the server, and its times are the server's.
"""

from __future__ import annotations

import uuid
from typing import Any, Awaitable, Dict, List, Optional, Tuple, Type, TypeVar

from .idempotency import (
    DONE,
    MAX_RECOVERIES,
    PENDING,
    Claim,
    IdempotencyStore,
    Recovered,
    StoreUnavailable,
)

__all__ = ["REDIS_TIMEOUT", "RedisCalls", "RedisStore", "redis_client"]

T = TypeVar("T")

# Lua keeps each step atomic. Times come from the server (TIME), not from the replicas' clocks.
_NOW_MS = """
local now = redis.call("TIME")
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
"""
# KEYS: claim, inbox, pending. ARGV: token, lease_ms, ttl_s, key, body ("" = keep none).
_CLAIM_SCRIPT = (
    _NOW_MS
    + """
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
    if ARGV[5] ~= "" then
        redis.call("HSET", KEYS[2], "body", ARGV[5], "attempts", 0)
        redis.call("EXPIRE", KEYS[2], ARGV[3])
        redis.call("ZADD", KEYS[3], now_ms + tonumber(ARGV[2]), ARGV[4])
    end
    return "new"
end
return redis.call("GET", KEYS[1]) or ""
"""
)
# KEYS: claim, inbox, pending. ARGV: token, key, due ("" = forget the body, else re-queue it).
# Only the claim's own token may end it: a replica whose lease ran out must not end the
# claim another replica has taken over since.
_END_SCRIPT = """
if redis.call("GET", KEYS[1]) ~= ARGV[1] then
    return 0
end
redis.call("DEL", KEYS[1])
if ARGV[3] == "" then
    redis.call("DEL", KEYS[2])
    redis.call("ZREM", KEYS[3], ARGV[2])
elseif redis.call("EXISTS", KEYS[2]) == 1 then
    redis.call("ZADD", KEYS[3], ARGV[3], ARGV[2])
end
return 1
"""
# KEYS: pending. ARGV: lease_ms, then (claim, token, key) per claim. Returns the keys lost.
_RENEW_SCRIPT = (
    _NOW_MS
    + """
local lost = {}
for i = 2, #ARGV, 3 do
    if redis.call("GET", ARGV[i]) == ARGV[i + 1] then
        redis.call("PEXPIRE", ARGV[i], ARGV[1])
        redis.call("ZADD", KEYS[1], "XX", now_ms + tonumber(ARGV[1]), ARGV[i + 2])
    else
        table.insert(lost, ARGV[i + 2])
    end
end
return lost
"""
)
# KEYS: pending. ARGV: claim prefix, inbox prefix, token, lease_ms, limit, max attempts.
# Returns (key, body or "" when given up, attempt) for each webhook taken over.
_RECOVER_SCRIPT = (
    _NOW_MS
    + """
local taken = {}
local due = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now_ms, "LIMIT", 0, ARGV[5])
for _, key in ipairs(due) do
    local claim, inbox = ARGV[1] .. key, ARGV[2] .. key
    local state = redis.call("GET", claim)
    local body = redis.call("HGET", inbox, "body")
    if state == "done" or not body then
        redis.call("ZREM", KEYS[1], key)
        redis.call("DEL", inbox)
    elseif not state then
        local attempt = redis.call("HINCRBY", inbox, "attempts", 1)
        if attempt > tonumber(ARGV[6]) then
            redis.call("ZREM", KEYS[1], key)
            redis.call("DEL", inbox)
            body = ""
        else
            redis.call("SET", claim, ARGV[3], "PX", ARGV[4])
            redis.call("ZADD", KEYS[1], now_ms + tonumber(ARGV[4]), key)
        end
        table.insert(taken, key)
        table.insert(taken, body)
        table.insert(taken, attempt)
    end
end
return taken
"""
)
_RECOVER_BATCH = 50


# Seconds Redis may take to accept a connection or answer a command. Without a bound, a
# Redis that stops answering (not one that refuses) would hold every webhook's ack for as long
# as the OS keeps the connection open; with it, the webhook gets 503 and LoopMessage retries.
# A `socket_timeout` or `socket_connect_timeout` in the URL's query wins.
REDIS_TIMEOUT = 2.0


def redis_client(url: str, *, decode_responses: bool) -> Any:
    """An asyncio client of `dedupe_store`'s server (it connects on first use)."""
    try:
        import redis.asyncio as redis_asyncio
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "dedupe_store is a redis:// URL but the redis package is missing; "
            "pip install 'rasa-imessage[redis]'"
        ) from exc
    return redis_asyncio.from_url(
        url,
        decode_responses=decode_responses,
        socket_connect_timeout=REDIS_TIMEOUT,
        socket_timeout=REDIS_TIMEOUT,
    )


def redis_errors() -> Tuple[Type[BaseException], ...]:
    """redis-py's error base (connection refused, timeouts, READONLY replicas, ...)."""
    try:
        from redis.exceptions import RedisError
    except ModuleNotFoundError:  # pragma: no cover - a client passed in without redis-py
        return ()
    return (RedisError,)


class RedisCalls:
    """A Redis client whose failures are the store's own `StoreUnavailable`, whatever the
    client library raises; shared by the idempotency store and the bot's files (redis_media)."""

    def __init__(self, url: str, *, decode_responses: bool, client: Any = None) -> None:
        self._redis = client if client is not None else redis_client(
            url, decode_responses=decode_responses)  # fmt: skip
        self._errors: Tuple[Type[BaseException], ...] = (OSError, *redis_errors())

    async def _ask(self, call: Awaitable[T]) -> T:
        """Redis's answer; a connection or server error as `StoreUnavailable`."""
        try:
            return await call
        except self._errors as exc:
            raise StoreUnavailable(f"redis call failed: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        close = getattr(self._redis, "aclose", None) or self._redis.close
        await close()


class RedisStore(RedisCalls, IdempotencyStore):
    """Shared store: `SET key pending:<token> NX PX lease`, then `done` for the TTL.

    While a claim is pending, the webhook's body waits in `inbox:<key>` and the key in the
    `pending` sorted set, scored by the lease's end. The replica holding the claim renews the
    lease every third of it (`maintain`), so the lease runs out only when that replica is
    gone; then any replica's `maintain` takes the claim over and returns the body.
    Each claim holds its own token, so a replica whose lease ran out while its turn was still
    running cannot end the claim another replica has taken over since.
    """

    shared = True

    prefix = "rasa_imessage:webhook:"
    inbox_prefix = "rasa_imessage:inbox:"
    pending_key = "rasa_imessage:pending"

    def __init__(
        self, url: str, ttl_seconds: int = 21600, *, lease_seconds: float = 60, client: Any = None
    ) -> None:
        super().__init__(url, decode_responses=True, client=client)
        self._ttl = int(ttl_seconds)
        self._lease = lease_seconds
        self._lease_ms = max(1, int(lease_seconds * 1000))
        self.maintenance_interval = lease_seconds / 3
        self._tokens: Dict[str, str] = {}  # key -> the pending value of this store's claim

    def _keys(self, key: str) -> List[str]:
        return [self.prefix + key, self.inbox_prefix + key, self.pending_key]

    async def claim(self, key: str, body: Optional[str] = None) -> Claim:
        token = f"{PENDING}:{uuid.uuid4().hex}"
        keys = self._keys(key)
        claiming = self._redis.eval(
            _CLAIM_SCRIPT, 3, *keys, token, self._lease_ms, self._ttl, key, body or ""
        )
        state = await self._ask(claiming)
        if state == "new":
            self._tokens[key] = token
            return Claim.NEW
        return Claim.DONE if state == DONE else Claim.IN_PROGRESS

    async def complete(self, key: str) -> None:
        self._tokens.pop(key, None)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self.prefix + key, DONE, ex=self._ttl)
            pipe.delete(self.inbox_prefix + key)
            pipe.zrem(self.pending_key, key)
            await self._ask(pipe.execute())

    async def release(self, key: str) -> None:
        await self._end(key, due="")

    async def abandon(self, key: str) -> None:
        await self._end(key, due="0")  # due at once: the next `maintain` anywhere takes it

    async def _end(self, key: str, due: str) -> None:
        token = self._tokens.pop(key, None)
        if token is not None:
            await self._ask(self._redis.eval(_END_SCRIPT, 3, *self._keys(key), token, key, due))

    async def maintain(self, take_over: bool = True) -> List[Recovered]:
        if self._tokens:
            held = list(self._tokens.items())
            triples = [part for key, token in held for part in (self.prefix + key, token, key)]
            lost = await self._redis.eval(
                _RENEW_SCRIPT, 1, self.pending_key, self._lease_ms, *triples
            )
            for key in lost:  # taken over after a stall: that replica ends it now
                self._tokens.pop(key, None)
        if not take_over:
            return []
        token = f"{PENDING}:{uuid.uuid4().hex}"
        taken = await self._redis.eval(
            _RECOVER_SCRIPT, 1, self.pending_key, self.prefix, self.inbox_prefix, token,
            self._lease_ms, _RECOVER_BATCH, MAX_RECOVERIES,
        )  # fmt: skip
        recovered = []
        for index in range(0, len(taken), 3):
            key, body, attempt = taken[index], taken[index + 1], int(taken[index + 2])
            if body:
                self._tokens[key] = token
            recovered.append(Recovered(key, body or None, attempt))
        return recovered

    async def probe(self) -> None:
        """Write and remove a key of its own, as claims will: a read-only replica, a wrong
        password or a stalled server raises `StoreUnavailable` now, not at the first webhook."""
        key = f"rasa_imessage:probe:{uuid.uuid4().hex}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, "1", px=10_000)
            pipe.delete(key)
            await self._ask(pipe.execute())

    def hand_over(self, key: str) -> Optional[str]:
        return self._tokens.pop(key, None)

    def adopt(self, key: str, token: Optional[str]) -> None:
        if token is not None:
            self._tokens[key] = token
