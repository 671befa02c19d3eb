"""Where replicas share the bot's `data:` files: Redis, beside the idempotency store.

The replica that plans a send keeps a `data:` URL's bytes (hosted_media.py), but LoopMessage
fetches the URL through the load balancer, from any replica. With `dedupe_store` on Redis,
each is written there too, for as long, and a replica that does not have it reads it back.
"""

from __future__ import annotations

from typing import Any, Awaitable, Optional, Tuple, Type, TypeVar

from .idempotency import StoreUnavailable
from .redis_store import redis_client, redis_errors

__all__ = ["RedisMedia"]

T = TypeVar("T")


class RedisMedia:
    """`SharedMedia` on Redis: one key per file, expiring on the server."""

    prefix = "rasa_imessage:media:"

    def __init__(self, url: str, *, client: Any = None) -> None:
        # Bytes in, bytes out: the files are not text.
        self._redis = client if client is not None else redis_client(url, decode_responses=False)
        self._errors: Tuple[Type[BaseException], ...] = (OSError, *redis_errors())

    async def put(self, name: str, body: bytes, ttl_seconds: float) -> None:
        ttl_ms = max(1, int(ttl_seconds * 1000))
        await self._ask(self._redis.set(self.prefix + name, body, px=ttl_ms))

    async def get(self, name: str) -> Optional[bytes]:
        body = await self._ask(self._redis.get(self.prefix + name))
        return bytes(body) if body is not None else None

    async def _ask(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except self._errors as exc:
            raise StoreUnavailable(f"redis call failed: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        close = getattr(self._redis, "aclose", None) or self._redis.close
        await close()
