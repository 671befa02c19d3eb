"""The HTTP answer for a hosted media URL (hosted_media.py): the file, or a bare 404.

LoopMessage fetches these URLs without credentials, so the URL itself is the secret: an
unknown, unsigned or expired one gets the same 404 and says nothing of why. What is served
is the bot's, never a page: browsers are told not to sniff a type or run anything in it.
"""

from __future__ import annotations

from typing import Dict, Optional

from sanic import response
from sanic.response import HTTPResponse

from .hosted_media import KEPT_FOR, Served
from .metrics import MEDIA_FETCHES, Metrics

__all__ = ["serve_media"]

_HEADERS: Dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
}


async def serve_media(served: Optional[Served], metrics: Metrics) -> HTTPResponse:
    """The bytes or the file (Sanic leaves the body out for HEAD), counted."""
    answer = await _answer(served)
    metrics.add(MEDIA_FETCHES, "served" if answer.status == 200 else "not_found")
    return answer


async def _answer(served: Optional[Served]) -> HTTPResponse:
    if served is None:
        return response.json({"error": "not found"}, status=404)
    if served.body is not None:
        # Named by its content: the same URL never means other bytes.
        headers = {**_HEADERS, "Cache-Control": f"public, max-age={KEPT_FOR}, immutable"}
        return response.raw(served.body, content_type=served.content_type, headers=headers)
    assert served.path is not None
    headers = {**_HEADERS, "Cache-Control": "public, max-age=300"}  # the file may change
    try:
        return await response.file(served.path, mime_type=served.content_type, headers=headers)
    except OSError:  # removed or unreadable since it was found
        return response.json({"error": "not found"}, status=404)
