"""A LoopMessage stand-in on 127.0.0.1 for the client and channel tests.

The connector sends through aiohttp, so the tests answer it with a real HTTP server on
loopback (aiohttp's own `TestServer`) instead of patching the client: the requests go
through the same session, connection pool, timeouts and error paths as in production.

    lm.post(SEND_PATH).respond(200, json={"message_id": "M"})   # every call
    lm.post(SEND_PATH).queue(Reply(500), Reset(), Stall(5))     # the next calls, in order
    lm.post(SEND_PATH).handle(lambda call: Reply(...))          # decided per call
    lm.sends()  # the JSON bodies the send endpoint received, in order

A path without a route answers 404 with `{"success": false}` and is kept in `unrouted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Deque, Dict, List, Mapping, Optional, Tuple, Union

from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

SEND_PATH = "/api/v1/message/send/"
TYPING_PATH = "/api/v1/message/show-typing/"


@dataclass
class Reply:
    """An HTTP answer: `json` when given, else the raw `body`."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: Dict[str, str] = field(default_factory=dict)


@dataclass
class Reset:
    """Close the connection without an answer, as a reset or a dropped connection does."""


@dataclass
class Stall:
    """Answer `then` only after `seconds`: a timeout for a client that waits less."""

    seconds: float
    then: Reply = field(default_factory=Reply)


Outcome = Union[Reply, Reset, Stall]


@dataclass
class Call:
    """One request the stand-in received."""

    method: str
    path: str  # decoded: `/v1/message/status/A/B/` for `A%2FB`
    headers: Mapping[str, str]  # case-insensitive, as HTTP headers are
    content: bytes
    raw_path: str = ""  # as sent: `/v1/message/status/A%2FB/`
    received: float = field(default_factory=time.monotonic)  # this process's clock

    @property
    def json(self) -> Any:
        return json.loads(self.content)


Handler = Callable[[Call], Union[Outcome, Awaitable[Outcome]]]


class Route:
    """What one method and path answer, and the calls they got."""

    def __init__(self) -> None:
        self.calls: List[Call] = []
        self._next: Deque[Outcome] = deque()
        self._default: Union[Outcome, Handler] = Reply(200, json={})

    def respond(
        self,
        status: int = 200,
        json: Any = None,
        *,
        body: bytes = b"",
        headers: Optional[Dict[str, str]] = None,
    ) -> Route:
        """Answer every call (after any queued outcomes) with this."""
        self._default = Reply(status, json, body, dict(headers or {}))
        return self

    def queue(self, *outcomes: Outcome) -> Route:
        """Answer the next calls with these, in order; then the default again."""
        self._next.extend(outcomes)
        return self

    def handle(self, handler: Handler) -> Route:
        """Decide each answer from the call (a function or a coroutine function)."""
        self._default = handler
        return self

    @property
    def called(self) -> bool:
        return bool(self.calls)

    @property
    def call_count(self) -> int:
        return len(self.calls)

    async def outcome_for(self, call: Call) -> Outcome:
        if self._next:
            return self._next.popleft()
        if isinstance(self._default, (Reply, Reset, Stall)):
            return self._default
        decided = self._default(call)
        return await decided if inspect.isawaitable(decided) else decided


class LoopMessageStandIn:
    """LoopMessage's HTTP API as a local server whose answers each test sets."""

    def __init__(self) -> None:
        self.routes: Dict[Tuple[str, str], Route] = {}
        self.calls: List[Call] = []
        self.unrouted: List[Call] = []
        self._server: Optional[TestServer] = None
        self._closing = asyncio.Event()

    @property
    def url(self) -> str:
        """The base_url to give the client: `http://127.0.0.1:<port>`."""
        assert self._server is not None, "start the stand-in first"
        return str(self._server.make_url("")).rstrip("/")

    def route(self, method: str, path: str) -> Route:
        return self.routes.setdefault((method.upper(), path), Route())

    def post(self, path: str) -> Route:
        return self.route("POST", path)

    def get(self, path: str) -> Route:
        return self.route("GET", path)

    def accept_everything(self) -> LoopMessageStandIn:
        """Answer every send and show-typing call with 200, as LoopMessage does when all is well."""
        self.post(SEND_PATH).respond(200, json={"message_id": "OUT-1", "contact": "+13231112233"})
        self.post(TYPING_PATH).respond(200, json={})
        return self

    def refuse_sends(self, code: int = 520) -> Tuple[Route, Route]:
        """Refuse every send with LoopMessage's `code` (400); accept show-typing calls. The
        send and show-typing routes, to count their calls."""
        send = self.post(SEND_PATH).respond(
            400, json={"success": False, "code": code, "message": "x"}
        )
        return send, self.post(TYPING_PATH).respond(200)

    def sends(self) -> List[Dict[str, Any]]:
        """The JSON bodies of the send endpoint's calls, in order."""
        return [call.json for call in self.calls if call.path == SEND_PATH]

    async def start(self) -> LoopMessageStandIn:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def stop(self) -> None:
        self._closing.set()  # stalled answers end now
        if self._server is not None:
            await self._server.close()

    async def __aenter__(self) -> LoopMessageStandIn:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        content = await request.read()
        call = Call(request.method, request.path, CIMultiDict(request.headers), content,
                    request.raw_path)  # fmt: skip
        self.calls.append(call)
        route = self.routes.get((request.method, request.path))
        if route is None:
            self.unrouted.append(call)
            return web.json_response({"success": False, "message": "no route"}, status=404)
        route.calls.append(call)
        outcome = await route.outcome_for(call)
        if isinstance(outcome, Reset):
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError  # nothing more to write: the connection is gone
        if isinstance(outcome, Stall):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), outcome.seconds)
            outcome = outcome.then
        if outcome.json is not None:
            return web.json_response(outcome.json, status=outcome.status, headers=outcome.headers)
        return web.Response(status=outcome.status, body=outcome.body, headers=outcome.headers)


async def read_http_request(reader: asyncio.StreamReader) -> bytes:
    """One whole HTTP request off a raw connection: its head and its Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)
