"""The channel inside Rasa's own app (`configure_app`) with a stand-in agent: shared test kit.

`make_app` builds the app the way `rasa run` does, without a model, so it runs on Rasa Open
Source 3.6 and on Rasa Pro without a licence. Two ways to drive it:

- `post(app, body)`: sanic-testing's ASGI client, which runs the server's start and stop
  listeners around every request (so every request ends with the channel's drain);
- `served(app)`: one server lifetime around many requests (start listeners once, requests
  concurrently, stop listeners at the end), the way a real server runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Tuple

import httpx
from lm_standin import LoopMessageStandIn
from sanic import Sanic

from rasa_imessage.channel import IMessageInput

API = "https://a.loopmessage.com"
LEGACY_API = "https://server.loopmessage.com"
AUTH = "hook-secret-7f3a9c"
API_KEY = "org-key-5d1e2b"
URL = "/webhooks/imessage/webhook"
# No typing indicator or read receipt: only the sends reach the stand-in.
QUIET = {"typing_seconds": "0", "mark_read": "false"}
# The legacy API's credentials, over make_app's current ones.
LEGACY = {"api": "legacy", "api_key": None, "authorization_key": "a", "secret_key": "s",
          "sender_name": "bot@imsg.co"}  # fmt: skip
# The fuzzers that post through the whole channel draw the same inputs every run, since each
# costs a request and a turn; RASA_IMESSAGE_FUZZ=random with --hypothesis-seed=N draws others.
FIXED_FUZZ = os.environ.get("RASA_IMESSAGE_FUZZ") != "random"


async def until(check: Callable[[], Any], what: str, seconds: float = 10) -> None:
    """Poll state that offers no event (a count in another process, the emulator's store),
    with a deadline that only a failing run reaches."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def inbound(text: str = "hi", **fields: Any) -> Dict[str, Any]:
    body = {"event": "message_inbound", "contact": "+13231112233", "text": text,
            "message_id": "M-1", "webhook_id": "W-1", "message_type": "text"}  # fmt: skip
    body.update(fields)
    return body


def legacy_inbound(text: str = "hi", **fields: Any) -> Dict[str, Any]:
    """`inbound`'s message as the legacy API sends it."""
    body = {"alert_type": "message_inbound", "recipient": "+13231112233", "text": text,
            "message_id": "M-1", "webhook_id": "W-1"}  # fmt: skip
    body.update(fields)
    return body


class Bot:
    """A stand-in agent that records messages and answers each with `reply` responses."""

    def __init__(self) -> None:
        from unittest.mock import AsyncMock, MagicMock

        self.messages: List[Any] = []
        self.reply: List[Dict[str, Any]] = [{"text": "hello"}]
        self.tracker_events: List[Any] = []
        self.ready = True
        self.agent = MagicMock()
        self.agent.processor = None  # Rasa Pro's server start-up reads it
        self.agent.is_ready = lambda: self.ready
        self.agent.handle_message = AsyncMock(side_effect=self._handle)
        tracker = MagicMock()
        tracker.events = self.tracker_events
        self.agent.tracker_store.retrieve = AsyncMock(return_value=tracker)

    async def _handle(self, message: Any) -> None:
        self.messages.append(message)
        for response in self.reply:
            await message.output_channel.send_response(message.sender_id, dict(response))


def make_app(
    credentials: Optional[Dict[str, Any]] = None,
    *,
    lm: Optional[LoopMessageStandIn] = None,
    **channel_options: Any,
) -> Tuple[Any, IMessageInput, Bot]:
    """configure_app([channel]) with a stand-in agent; `channel_options` go to IMessageInput.

    With `lm`, the channel talks to that LoopMessage stand-in (its `base_url`).
    """
    from rasa.core import run as rasa_run

    from rasa_imessage.config import load_config

    Sanic.test_mode = True
    settings = {"api_key": API_KEY, "webhook_auth": AUTH}
    if lm is not None:
        settings["base_url"] = lm.url
    settings.update(credentials or {})
    if channel_options:
        channel = IMessageInput(load_config(settings), **channel_options)
    else:
        channel = IMessageInput.from_credentials(settings)  # the path `rasa run` takes
    app = rasa_run.configure_app([channel], port=5004)
    bot = Bot()
    app.ctx.agent = bot.agent
    return app, channel, bot


def body_of(body: Any) -> Any:
    return body if isinstance(body, (str, bytes)) else json.dumps(body)


def auth_headers(auth: Optional[str]) -> Dict[str, str]:
    return {} if auth is None else {"Authorization": auth}


async def post(app: Any, body: Any, auth: Optional[str] = AUTH, **kwargs: Any) -> Any:
    """One request through sanic-testing's ASGI client (start and stop listeners around it)."""
    headers = {**auth_headers(auth), **kwargs.pop("headers", {})}
    _, response = await app.asgi_client.post(URL, content=body_of(body), headers=headers, **kwargs)
    return response


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the app during one server lifetime: start listeners now, stop ones at exit."""
    app.asgi_client  # noqa: B018 - sets the app up for ASGI (sanic-testing patches __call__)
    app.router.reset()
    app.signal_router.reset()
    await app._startup()
    await app._server_event("init", "before")
    await app._server_event("init", "after")
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5004))  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:5004") as http:
            yield http
    finally:
        await app._server_event("shutdown", "before")
        await app._server_event("shutdown", "after")


async def send_webhook(
    http: httpx.AsyncClient, body: Any, auth: Optional[str] = AUTH
) -> httpx.Response:
    """POST a webhook through a `served` client."""
    response = await http.post(URL, content=body_of(body), headers=auth_headers(auth))
    # The ASGI transport never suspends: give the background turns the step a real
    # server's socket wait would give them.
    await asyncio.sleep(0)
    return response


class ServedAppThread:
    """`make_app` served on an event loop of its own thread, for synchronous callers.

    Hypothesis runs its examples synchronously; with the app in a thread, hundreds of
    examples share one app and one server lifetime instead of building one each (0.4 s).
    With `lm` (a stand-in not yet started), the stand-in is started on a second thread's
    loop, the app talks to it, and it stops after the app: its connection handlers are not
    tasks on the app's loop, so a count of the app loop's tasks sees the app's only.
    """

    def __init__(
        self,
        credentials: Optional[Dict[str, Any]] = None,
        *,
        lm: Optional[LoopMessageStandIn] = None,
    ) -> None:
        import asyncio
        import threading

        self._credentials = credentials
        self._lm = lm
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._lm_loop = asyncio.new_event_loop() if lm is not None else None
        self._lm_thread = (
            threading.Thread(target=self._lm_loop.run_forever, daemon=True)
            if self._lm_loop is not None
            else None
        )
        self._stop: Optional[asyncio.Event] = None
        self._serving: Any = None
        self.http: Optional[httpx.AsyncClient] = None

    def run(self, coroutine: Any, timeout: float = 60) -> Any:
        """Run `coroutine` on the app's loop and return its result."""
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def run_lm(self, coroutine: Any, timeout: float = 60) -> Any:
        """Run `coroutine` on the stand-in's loop and return its result."""
        import asyncio

        assert self._lm_loop is not None, "ServedAppThread(lm=...) only"
        return asyncio.run_coroutine_threadsafe(coroutine, self._lm_loop).result(timeout)

    def __enter__(self) -> Tuple[ServedAppThread, IMessageInput, Bot]:
        self._thread.start()
        if self._lm is not None and self._lm_thread is not None:
            self._lm_thread.start()
            try:
                self.run_lm(self._lm.start())
            except BaseException:
                self._close_loops()
                raise

        async def start() -> Tuple[IMessageInput, Bot]:
            self.app, channel, bot = make_app(self._credentials, lm=self._lm)
            self._serving = served(self.app)
            self.http = await self._serving.__aenter__()
            return channel, bot

        try:
            channel, bot = self.run(start())
        except BaseException:
            self._close_loops()
            raise
        return self, channel, bot

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self.run(self._serving.__aexit__(None, None, None))
        finally:
            self._close_loops()

    def _close_loops(self) -> None:
        try:
            if self._lm is not None and self._lm_loop is not None and self._lm_loop.is_running():
                self.run_lm(self._lm.stop())  # after the app: its client has let go
        finally:
            for loop, thread in ((self._loop, self._thread), (self._lm_loop, self._lm_thread)):
                if loop is None or thread is None:
                    continue
                if thread.is_alive():
                    loop.call_soon_threadsafe(loop.stop)
                    thread.join(10)
                loop.close()

    def post(self, content: Any, headers: Optional[Dict[str, Any]] = None) -> httpx.Response:
        assert self.http is not None
        return self.run(self.http.post(URL, content=body_of(content), headers=headers or {}))  # type: ignore[no-any-return]


@asynccontextmanager
async def listening(app: Any) -> AsyncIterator[str]:
    """The app as a real HTTP server on a free loopback port, in this loop; yields its URL."""
    from rasa_imessage.rasa_process import free_port

    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
