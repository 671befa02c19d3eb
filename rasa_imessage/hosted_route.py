"""The HTTP answer for a hosted media URL (hosted_media.py): the file, or a bare 404.

LoopMessage fetches these URLs without credentials, so the URL itself is the secret: an
unknown, unsigned or expired one gets the same 404 and says nothing of why. What is served
is the bot's, never a page: browsers are told not to sniff a type or run anything in it.
"""

from __future__ import annotations

import asyncio
from typing import Dict, Optional

from sanic import response
from sanic.response import HTTPResponse

from .byte_range import UNSATISFIABLE, requested_range
from .hosted_media import KEPT_FOR, Served
from .metrics import MEDIA_FETCHES, Metrics

__all__ = ["serve_media"]

_HEADERS: Dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
}

_ANSWERS = {200: "served", 206: "served", 416: "bad_range"}  # else 404: "not_found"


async def serve_media(
    served: Optional[Served], metrics: Metrics, range_header: Optional[str] = None
) -> HTTPResponse:
    """The bytes or the file, or the one range of them asked for (Sanic leaves the body out
    for HEAD), counted."""
    answer = await _answer(served, range_header)
    metrics.add(MEDIA_FETCHES, _ANSWERS.get(answer.status, "not_found"))
    return answer


async def _answer(served: Optional[Served], range_header: Optional[str]) -> HTTPResponse:
    size = None if served is None else _size_of(served)
    if served is None or size is None:
        return _not_found()
    cache = "public, max-age=300"  # a file in media_dir may change
    if served.body is not None:  # named by its content: the same URL never means other bytes
        cache = f"public, max-age={KEPT_FOR}, immutable"
    headers = {**_HEADERS, "Cache-Control": cache, "Accept-Ranges": "bytes"}
    wanted = requested_range(range_header, size)
    if wanted == UNSATISFIABLE:
        headers["Content-Range"] = f"bytes */{size}"
        return response.raw(b"", status=416, content_type=served.content_type, headers=headers)
    first, last = wanted if isinstance(wanted, tuple) else (0, size - 1)
    body = await _read(served, first, last + 1 - first)  # a seek reads only its part
    if body is None:
        return _not_found()
    status = 200
    if isinstance(wanted, tuple):
        status, headers["Content-Range"] = 206, f"bytes {first}-{last}/{size}"
    return response.raw(body, status=status, content_type=served.content_type, headers=headers)


def _not_found() -> HTTPResponse:
    return response.json({"error": "not found"}, status=404)


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
