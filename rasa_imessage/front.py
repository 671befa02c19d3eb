"""LoopMessage's webhooks answered on a port and a thread of their own (`webhook_port`).

Rasa computes each turn in stretches on its event loop, and Sanic answers a webhook only
between two of them: a pipeline or an action-answer check that takes 30 ms makes the ack
wait 30 ms. This front runs an aiohttp server on its own event loop in a thread. While
Rasa's thread holds the GIL, the front gets it back within one switch interval, so an ack
waits milliseconds whatever the bot computes. The front does everything that decides the
answer (auth, parse, claim); only queueing the turn goes to Rasa's loop, after the answer
is decided and before it is sent. No Rasa import here: the channel passes its callbacks.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, Optional

from aiohttp import web

__all__ = ["SWITCH_INTERVAL", "Answer", "FrontError", "WebhookFront", "shorten_switch_interval"]

logger = logging.getLogger(__name__)

# Every socket call of the front lets go of the GIL, and taking it back from a thread that
# computes waits for the switch interval: Python's 5 ms made each ack wait several times
# 5 ms (ack p99 64 ms with a bot whose turns compute 30 ms at a stretch; 11.0 ms at 0.5 ms,
# 10.7 at 0.2, 8.6-9.0 at 0.1; BENCHMARKS.md's findings). It only matters while the front
# waits for the GIL: an idle front costs Rasa's thread no switches.
SWITCH_INTERVAL = 0.0001
_PYTHONS_SWITCH_INTERVAL = 0.005


@dataclass(frozen=True)
class Answer:
    """A webhook's HTTP answer, whichever server sends it."""

    status: int
    body: Dict[str, Any] = field(default_factory=lambda: {"status": "ok"})


class FrontError(RuntimeError):
    """The front could not listen on its port (taken, or not allowed)."""


Handle = Callable[[Optional[str], bytes], Awaitable[Answer]]
Health = Callable[[], Dict[str, Any]]
Hook = Callable[[], Awaitable[None]]


class WebhookFront:
    """An aiohttp server on `host:port`, in a daemon thread with its own event loop.

    `handle(authorization, body)` and the hooks run on the front's loop, never on the
    caller's: they must only touch state that is safe to share between threads.
    """

    def __init__(
        self,
        host: str,
        port: int,
        prefix: str,
        handle: Handle,
        health: Health,
        *,
        max_body_bytes: int,
        on_start: Optional[Hook] = None,
        on_stop: Optional[Hook] = None,
    ) -> None:
        self.host = host
        self.port = port  # the port bound, once started (0 asks the system for one)
        self._prefix = prefix.rstrip("/")
        self._handle = handle
        self._health = health
        self._max_body = max_body_bytes
        self._on_start = on_start
        self._on_stop = on_stop
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._runner: Optional[web.AppRunner] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> None:
        """Listen, or raise `FrontError` saying why not; returns once the port is bound."""
        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._serve, args=(started,), name="imessage-webhooks", daemon=True
        )
        self._thread.start()
        try:
            started.result(timeout)
        except OSError as exc:
            self._thread.join(timeout)
            raise FrontError(
                f"webhook_port: cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc

    async def stop(self) -> None:
        """Stop listening and let webhooks in hand be answered; then the thread ends."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            done = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            await asyncio.wrap_future(done)
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        self._loop = self._thread = None

    # -- the thread ---------------------------------------------------------------------------

    def _serve(self, started: Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _open(self) -> None:
        # Bodies up to one byte over the limit are read, so the answer to a larger one is
        # the channel's JSON 413, not aiohttp's text.
        app = web.Application(client_max_size=self._max_body + 1)
        app.router.add_post(self._prefix + "/webhook", self._webhook)
        app.router.add_get(self._prefix + "/", self._status)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or ()
        if sockets:
            self.port = sockets[0].getsockname()[1]
        if self._on_start is not None:
            await self._on_start()

    async def _shutdown(self) -> None:
        try:
            if self._runner is not None:
                await self._runner.cleanup()  # closes the port, waits for handlers in hand
                self._runner = None
            if self._on_stop is not None:
                await self._on_stop()
        finally:
            asyncio.get_running_loop().call_soon(asyncio.get_running_loop().stop)

    async def _webhook(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _json(Answer(413, {"error": f"body is over max_body_bytes ({self._max_body})"}))
        try:
            answer = await self._handle(request.headers.get("Authorization"), body)
        except Exception:
            logger.exception("iMessage webhook failed on the webhook port")
            answer = Answer(500, {"error": "internal error; LoopMessage will retry"})
        return _json(answer)

    async def _status(self, request: web.Request) -> web.Response:
        return _json(Answer(200, self._health()))


def shorten_switch_interval() -> Optional[float]:
    """Make the front's ack wait 0.1 ms, not 5, per GIL hand-over. Returns the interval to
    restore when the front stops, or None when the application chose its own (left alone)."""
    previous = sys.getswitchinterval()
    if abs(previous - _PYTHONS_SWITCH_INTERVAL) > 1e-9:
        return None
    sys.setswitchinterval(SWITCH_INTERVAL)
    return previous


def _json(answer: Answer) -> web.Response:
    return web.json_response(answer.body, status=answer.status)
