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
    body = None if served is None else await _bytes_of(served)
    if served is None or body is None:
        return response.json({"error": "not found"}, status=404)
    cache = "public, max-age=300"  # a file in media_dir may change
    if served.body is not None:  # named by its content: the same URL never means other bytes
        cache = f"public, max-age={KEPT_FOR}, immutable"
    headers = {**_HEADERS, "Cache-Control": cache, "Accept-Ranges": "bytes"}
    size = len(body)
    wanted = requested_range(range_header, size)
    if wanted == UNSATISFIABLE:
        headers["Content-Range"] = f"bytes */{size}"
        return response.raw(b"", status=416, content_type=served.content_type, headers=headers)
    if isinstance(wanted, tuple):
        first, last = wanted
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        part = body[first : last + 1]
        return response.raw(part, status=206, content_type=served.content_type, headers=headers)
    return response.raw(body, content_type=served.content_type, headers=headers)


async def _bytes_of(served: Served) -> Optional[bytes]:
    if served.body is not None:
        return served.body
    assert served.path is not None
    try:  # off the loop that acks webhooks
        return await asyncio.get_running_loop().run_in_executor(None, served.path.read_bytes)
    except OSError:  # removed or unreadable since it was found
        return None
