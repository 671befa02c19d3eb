"""The HTTP answer for a hosted media URL (hosted_media.py): the file, or a bare 404.

LoopMessage fetches these URLs without credentials, so the URL itself is the secret: an
unknown, unsigned or expired one gets the same 404 and says nothing of why. What is served
is the bot's, never a page: browsers are told not to sniff a type or run anything in it.
No web framework here: Rasa's port (Sanic, channel.py) and `webhook_port`'s process
(aiohttp, front_process.py) each send the same `MediaAnswer`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Dict, Optional, Tuple
from urllib.parse import unquote

from .byte_range import part_to_send
from .hosted_media import KEPT_FOR, MEDIA_PATH, Served

__all__ = ["MediaAnswer", "media_answer", "media_url_parts"]

_HEADERS: Dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
}
_NOT_FOUND = json.dumps({"error": "not found"}).encode()


@dataclass(frozen=True)
class MediaAnswer:
    """Status, headers and body of a fetch; `outcome` labels it in the metrics."""

    status: int
    content_type: str
    body: bytes
    headers: Dict[str, str]
    outcome: str  # served, not_found, bad_range


def media_url_parts(raw_path: str) -> Optional[Tuple[str, str, str]]:
    """Kind, signature and name (decoded once) of a media URL's still-encoded path."""
    prefix = MEDIA_PATH + "/"
    if not raw_path.startswith(prefix):
        return None
    kind, _, rest = raw_path[len(prefix) :].partition("/")
    signature, _, name = rest.partition("/")
    return (kind, signature, unquote(name)) if name else None


async def media_answer(served: Optional[Served], range_header: Optional[str]) -> MediaAnswer:
    """The bytes or the file, or the one range of them asked for."""
    size = None if served is None else _size_of(served)
    if served is None or size is None:
        return _not_found()
    cache = "public, max-age=300"  # a file in media_dir may change
    if served.body is not None:  # named by its content: the same URL never means other bytes
        cache = f"public, max-age={KEPT_FOR}, immutable"
    headers = {**_HEADERS, "Cache-Control": cache, "Accept-Ranges": "bytes"}
    part = part_to_send(range_header, size)
    if part.content_range is not None:
        headers["Content-Range"] = part.content_range
    if part.status == 416:
        return MediaAnswer(416, served.content_type, b"", headers, "bad_range")
    body = await _read(served, part.first, part.length)  # a seek reads only its part
    if body is None:
        return _not_found()
    return MediaAnswer(part.status, served.content_type, body, headers, "served")


def _not_found() -> MediaAnswer:
    return MediaAnswer(404, "application/json", _NOT_FOUND, {}, "not_found")


def _size_of(served: Served) -> Optional[int]:
    if served.body is not None:
        return len(served.body)
    assert served.path is not None
    try:
        return served.path.stat().st_size
    except OSError:  # removed since it was found
        return None


async def _read(served: Served, offset: int, length: int) -> Optional[bytes]:
    if served.body is not None:
        return served.body[offset : offset + length]
    assert served.path is not None
    path = served.path

    def read() -> bytes:
        with path.open("rb") as file:
            file.seek(offset)
            return file.read(length)

    try:  # off the loop that acks webhooks
        return await asyncio.get_running_loop().run_in_executor(None, read)
    except OSError:  # removed or unreadable since it was found
        return None
