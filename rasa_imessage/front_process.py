"""The webhook port's process: `python -m rasa_imessage.front_process` (`webhook_port`).

front.py starts it and talks to it over its stdin and stdout (frames, as the send worker
does). It answers LoopMessage's webhooks with an aiohttp server on a loop no Rasa code runs
on, so an ack never waits for a turn. It decides the whole answer (intake.py): auth, parse,
the bot's readiness as the bot's process last reported it, the claim in its own dedupe
store, room among `max_queued_turns`. Each accepted webhook goes to the bot's process as a
frame before its 200 goes out.

Frames in (from the bot's process): the settings first, then
  ("state", ready, stopping, pending, taken)  every half second: what the bot's process is
                                        doing, and how many turns it has taken from here;
  ("claim", call, key)                  in-memory store: a claim made on Rasa's port;
  ("end", key, how)                     in-memory store: a claim ends (complete, release,
                                        abandon);
  ("keep", name, body, seconds)         `public_url`: a `data:` file the bot made, served
                                        at its URL for that long (hosted_media.py);
  ("stop",)                             close the port, answer the webhooks in hand.
Frames out: ("listening", port) or ("failed", reason) once; ("turn", body, key, token)
for each accepted webhook; ("claimed", call, outcome) for each claim; ("answers", counts)
and ("fetches", counts) after a state frame, when webhooks were answered or the bot's files
fetched since the last, and before ("stopped",), which goes once the port is closed. The
process exits when its stdin closes, and ignores SIGINT and SIGTERM (the bot's process
decides when it stops).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
from typing import Any, Optional, Set

from aiohttp import web

from .auth import WebhookAuth
from .config import IMessageConfig
from .hosted_media import MEDIA_PATH, MediaHost, media_host_for
from .hosted_route import media_answer, media_url_parts
from .idempotency import IdempotencyStore, StoreUnavailable, configured_store
from .intake import Answer, answer_webhook, error
from .loopmessage import InboundEvent
from .loopmessage._child import run_child
from .loopmessage._frames import frame, take_frames

__all__ = ["run_front"]

_log = logging.getLogger("rasa_imessage.front")


class _Front(asyncio.Protocol):
    """Reads the bot's frames from stdin; serves webhooks on the port."""

    def __init__(self, out: asyncio.WriteTransport) -> None:
        self._out = out
        self._buffer = bytearray()
        self._config: Optional[IMessageConfig] = None
        self._auth = WebhookAuth(None)
        self._store: Optional[IdempotencyStore] = None
        self._runner: Optional[web.AppRunner] = None
        self._ready = False
        self._stopping = False
        self._pending = 0  # turns in the bot's process, as last reported
        self._taken = 0  # of the turns handed over, those the bot's process had read then
        self._handed = 0  # turns handed over
        # Webhooks answered since the last report, by outcome (the bot's side counts them).
        self._answers: collections.Counter[str] = collections.Counter()
        self._fetches: collections.Counter[str] = collections.Counter()  # the bot's files
        # `public_url`: the bot's files, served here. With Redis the `data:` files are read
        # there; else the bot's process gives them (`keep` frames).
        self._media: Optional[MediaHost] = None
        self._jobs: Set[asyncio.Task[None]] = set()
        self.ended = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        for message in take_frames(self._buffer):
            if self._config is None:
                self._config = message[0]  # now: the frames after it are not settings
                # Now too (no I/O): the `keep` frames may come before the port listens.
                self._media = media_host_for(self._config)
                self._spawn(self._open(*message))
            elif message[0] == "state":
                _, self._ready, self._stopping, self._pending, self._taken = message
                self._report_answers()
            elif message[0] == "end":
                self._spawn(self._end(message[1], message[2]))
            elif message[0] == "claim":
                self._spawn(self._claim(message[1], message[2]))
            elif message[0] == "keep" and self._media is not None:
                self._media.keep(message[1], message[2], message[3])
            elif message[0] == "stop":
                self._stopping = True
                self._spawn(self._close_port())

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if not self.ended.done():
            self.ended.set_result(None)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _open(self, config: IMessageConfig, level: int) -> None:
        try:
            await self._listen(config, level)
        except Exception as exc:  # the bot's side must hear why, not wait for a timeout
            _log.exception("iMessage webhook port could not start")
            self._out.write(frame(("failed", f"{type(exc).__name__}: {exc}")))

    async def _listen(self, config: IMessageConfig, level: int) -> None:
        logging.basicConfig(
            level=level,
            stream=sys.stderr,
            format="%(levelname)s %(name)s (webhook port) %(message)s",
        )
        secret = config.webhook_auth.get_secret_value() if config.webhook_auth else None
        self._auth = WebhookAuth(secret)
        self._store = configured_store(config)
        # Bodies one byte over the limit are read, so a larger one gets intake's JSON 413.
        app = web.Application(client_max_size=config.max_body_bytes + 1)
        app.router.add_post("/webhooks/imessage/webhook", self._webhook)
        app.router.add_get("/webhooks/imessage/", self._status)
        if self._media is not None:
            app.router.add_get(MEDIA_PATH + "/{rest:.*}", self._media_file)  # and HEAD
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, config.webhook_host, config.webhook_port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            self._out.write(frame(("failed", exc.strerror or str(exc))))
            return
        self._runner = runner
        server: Any = getattr(site, "_server", None)
        port = server.sockets[0].getsockname()[1] if server and server.sockets else 0
        self._out.write(frame(("listening", port)))

    async def _webhook(self, request: web.Request) -> web.Response:
        assert self._config is not None and self._store is not None
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            answer = error(
                413, f"body is over max_body_bytes ({self._config.max_body_bytes})", "too_large"
            )
        else:
            try:
                answer = await answer_webhook(
                    self._config,
                    self._auth,
                    request.headers.get("Authorization"),
                    body,
                    ready=self._is_ready,
                    stopping=self._is_stopping,
                    store=self._store,
                    hand_over=self._hand_over,
                )
            except Exception:  # a bug: LoopMessage retries a 5xx, and the log says why
                _log.exception("iMessage webhook failed on the webhook port")
                answer = error(500, "internal error; LoopMessage will retry", "error")
        self._answers[answer.outcome] += 1
        return web.json_response(answer.body, status=answer.status)

    async def _media_file(self, request: web.Request) -> web.Response:
        """The bot's file at a `public_url` naming this port, as Rasa's port answers it."""
        assert self._media is not None
        parts = media_url_parts(request.rel_url.raw_path)  # decoded once, as on Rasa's port
        served = None if parts is None else await self._media.fetch(*parts)
        answer = await media_answer(served, request.headers.get("Range"))
        self._fetches[answer.outcome] += 1
        headers = {**answer.headers, "Content-Type": answer.content_type}
        return web.Response(body=answer.body, status=answer.status, headers=headers)

    def _report_answers(self) -> None:
        if self._answers:
            self._out.write(frame(("answers", dict(self._answers))))
            self._answers.clear()
        if self._fetches:
            self._out.write(frame(("fetches", dict(self._fetches))))
            self._fetches.clear()

    async def _hand_over(
        self, event: InboundEvent, key: Optional[str], body: bytes
    ) -> Optional[Answer]:
        """Counted against `max_queued_turns` here, so what gets a 200 is always queued."""
        assert self._config is not None and self._store is not None
        waiting = self._pending + self._handed - self._taken  # those in the pipe count too
        if waiting >= self._config.max_queued_turns:
            _log.error(
                "iMessage webhook deferred: %d turns are already waiting (max_queued_turns)",
                waiting,
            )
            return error(503, "too many turns waiting; LoopMessage will retry", "busy")
        token = self._store.hand_over(key) if key is not None else None
        self._handed += 1
        self._out.write(frame(("turn", body, key, token)))
        return None

    async def _end(self, key: str, how: str) -> None:
        assert self._store is not None
        await getattr(self._store, how)(key)

    def _is_ready(self) -> bool:
        return self._ready

    def _is_stopping(self) -> bool:
        return self._stopping

    async def _claim(self, call: int, key: str) -> None:
        """A claim of Rasa's port: one list of handled webhooks for both ports."""
        assert self._store is not None
        try:
            outcome = (await self._store.claim(key)).value
        except StoreUnavailable as exc:
            outcome = f"unavailable: {exc}"
        self._out.write(frame(("claimed", call, outcome)))

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "channel": "imessage", "ready": self._ready})

    async def _close_port(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()  # stops accepting, answers the webhooks in hand
            self._runner = None
        self._report_answers()
        self._out.write(frame(("stopped",)))

    async def finish(self) -> None:
        """Stdin closed: the bot's process is done with this one."""
        await self.ended
        if self._runner is not None:
            await self._runner.cleanup()
        while self._jobs:
            await asyncio.wait(list(self._jobs))
        if self._store is not None:
            await self._store.aclose()
        if self._media is not None:
            await self._media.aclose()


def run_front() -> None:
    """The process's whole life: answer webhooks until stdin closes."""
    run_child(_Front)


if __name__ == "__main__":
    run_front()
