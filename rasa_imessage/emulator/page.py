"""What a browser fetches: the chat page, its static files, uploads and the live event stream.

The page is plain HTML, CSS and JavaScript shipped inside the package, so the emulator runs
with nothing to build. Uploads are kept in memory and served back over http on loopback,
which is why the API accepts loopback ``http://`` attachment URLs (see validation.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import re
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

from aiohttp import BodyPartReader, web

from rasa_imessage.byte_range import part_to_send

from .context import Context
from .events import Subscription

STATIC_DIR = Path(__file__).parent / "static"
# Big enough for a phone video; the emulator keeps uploads in memory.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# Proxies and browsers drop idle streams; a comment line every so often keeps SSE open.
_HEARTBEAT_SECONDS = 15.0
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class PageRoutes:
    """Static files, uploads and the SSE stream of ``EventBus`` events."""

    def __init__(self, context: Context, base_url: Callable[[], str]) -> None:
        self._store = context.store
        self._bus = context.bus
        self._base_url = base_url

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.index),
            web.get("/static/{name}", self.static),
            web.post("/emulator/files", self.upload),
            web.get("/files/{id}/{name}", self.file),
            web.get("/emulator/events", self.events),
            web.get("/opt-in/{id}", self.opt_in),
        ]

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers=_NO_CACHE)

    async def opt_in(self, request: web.Request) -> web.StreamResponse:
        """An opt-in link opened: the chat page, its message ready to send, as Messages
        opens with it on a phone."""
        link = self._store.opt_in_links.get(request.match_info["id"])
        if link is None:
            raise web.HTTPNotFound(text="no such opt-in link")
        raise web.HTTPFound("/?" + urlencode({"compose": link.text}))

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = STATIC_DIR / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers=_NO_CACHE)

    async def upload(self, request: web.Request) -> web.Response:
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and getattr(part, "name", None) != "file":
            part = await reader.next()
        if not isinstance(part, BodyPartReader) or not part.filename:
            return web.json_response(
                {"error": "send the file as multipart field 'file'"}, status=400
            )
        data = await part.read(decode=False)
        name = _SAFE_NAME.sub("_", Path(part.filename).name)[-100:] or "file"
        content_type = (
            part.headers.get("Content-Type")
            or mimetypes.guess_type(name)[0]
            or "application/octet-stream"
        )
        stored = self._store.add_file(name, content_type, bytes(data))
        url = f"{self._base_url()}/files/{stored.id}/{stored.name}"
        return web.json_response(
            {"url": url, "name": stored.name, "content_type": content_type, "size": len(data)},
            status=201,
        )

    async def file(self, request: web.Request) -> web.Response:
        stored = self._store.files.get(request.match_info["id"])
        if stored is None or stored.name != request.match_info["name"]:
            raise web.HTTPNotFound()
        part = part_to_send(request.headers.get("Range"), len(stored.data))
        headers = {"Accept-Ranges": "bytes"}  # as a CDN does: players seek, Safari plays video
        if part.content_range is not None:
            headers["Content-Range"] = part.content_range
        if part.status == 416:
            raise web.HTTPRequestRangeNotSatisfiable(headers=headers)
        body = stored.data[part.first : part.first + part.length]
        return web.Response(
            status=part.status, body=body, content_type=stored.content_type, headers=headers
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", **_NO_CACHE, "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        # A closed tab surfaces as ConnectionResetError on the next write.
        async with self._bus.subscription() as subscription:
            with contextlib.suppress(ConnectionResetError):
                await self._stream(response, subscription)
        return response

    async def _stream(self, response: web.StreamResponse, subscription: Subscription) -> None:
        await response.write(b"retry: 1000\n\n")
        while True:
            try:
                event = await subscription.next(timeout=_HEARTBEAT_SECONDS)
            except asyncio.TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event is None:
                return
            data = json.dumps(event.data, ensure_ascii=False)
            await response.write(f"event: {event.kind}\ndata: {data}\n\n".encode())


_NO_CACHE = {"Cache-Control": "no-cache"}
