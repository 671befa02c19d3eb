"""Where replicas share the bot's `data:` files: Redis, beside the idempotency store.

The replica that plans a send keeps a `data:` URL's bytes (hosted_media.py), but LoopMessage
fetches the URL through the load balancer, from any replica. With `dedupe_store` on Redis,
each is written there too, for as long, and a replica that does not have it reads it back.
"""

from __future__ import annotations

from typing import Any, Optional

from .redis_store import RedisCalls

__all__ = ["RedisMedia"]


class RedisMedia(RedisCalls):
    """`SharedMedia` on Redis: one key per file, expiring on the server."""

    prefix = "rasa_imessage:media:"

    def __init__(self, url: str, *, client: Any = None) -> None:
        super().__init__(url, decode_responses=False, client=client)  # the files are not text

    async def put(self, name: str, body: bytes, ttl_seconds: float) -> None:
        ttl_ms = max(1, int(ttl_seconds * 1000))
        await self._ask(self._redis.set(self.prefix + name, body, px=ttl_ms))

    async def get(self, name: str) -> Optional[bytes]:
        body = await self._ask(self._redis.get(self.prefix + name))
        return bytes(body) if body is not None else None
