"""Posting webhooks to the bot the way LoopMessage does, retries included.

Each conversation has its own FIFO, worked by one task that exists only while the FIFO has
work: a conversation's webhooks arrive in order (a retry holds back the ones behind it), and
an idle emulator holds no tasks. Only HTTP 200 counts as delivered; anything else, a timeout
or a refused connection is retried with the same ``webhook_id`` on LoopMessage's schedule,
compressed by ``EmulatorConfig.retry_scale``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Callable

import aiohttp

from .background import Background
from .config import MAX_TYPING_SECONDS, Api, EmulatorConfig
from .events import JsonDict
from .faults import Faults
from .store import Store

logger = logging.getLogger(__name__)

# The legacy API reads {"typing": N, "read": true} from the 200 body of these events only.
_REPLY_EVENTS = frozenset({"message_inbound", "message_sent", "message_reaction"})
_DETAIL_CHARS = 200

Outcome = Callable[[str], None]


@dataclass
class Delivery:
    """One webhook on its way: the body never changes between attempts."""

    conversation: str
    body: JsonDict
    on_outcome: Outcome | None = None

    @property
    def event(self) -> str:
        return str(self.body.get("event") or self.body.get("alert_type") or "unknown")

    def report(self, outcome: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(outcome)


class WebhookDispatcher:
    """Delivers webhooks to ``config.webhook_url``; call ``open`` before and ``close`` after."""

    def __init__(
        self, config: EmulatorConfig, store: Store, faults: Faults, background: Background
    ) -> None:
        self._config = config
        self._store = store
        self._faults = faults
        self._background = background
        self._queues: dict[str, deque[Delivery]] = {}
        self._session: aiohttp.ClientSession | None = None
        self.webhook_url = config.webhook_url

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True),
            timeout=aiohttp.ClientTimeout(total=self._config.webhook_timeout),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def enqueue(self, conversation: str, body: JsonDict, on_outcome: Outcome | None = None) -> None:
        delivery = Delivery(conversation, body, on_outcome)
        queue = self._queues.get(conversation)
        if queue is None:
            queue = self._queues[conversation] = deque()
            self._background.spawn(self._drain(conversation, queue), f"webhooks:{conversation}")
        queue.append(delivery)

    async def _drain(self, conversation: str, queue: deque[Delivery]) -> None:
        try:
            while queue:
                await self._deliver(queue[0])
                queue.popleft()
        finally:
            self._queues.pop(conversation, None)

    async def _deliver(self, delivery: Delivery) -> None:
        if not self.webhook_url:
            self._store.record(
                direction="webhook",
                title=delivery.event,
                status=None,
                ok=False,
                detail="not sent: no webhook URL configured",
                webhook_id=str(delivery.body.get("webhook_id")),
            )
            delivery.report("failed")
            return
        if self._faults.webhook_delay:
            await asyncio.sleep(self._faults.webhook_delay)
        delays = self._config.retry_delays()
        for attempt in range(1, len(delays) + 2):
            if await self._attempt(delivery, attempt):
                delivery.report("delivered")
                if self._faults.take_duplicate():
                    await self._attempt(delivery, attempt + 1, note="duplicate delivery (fault)")
                return
            if attempt > len(delays):
                break
            delivery.report("retrying")
            await asyncio.sleep(delays[attempt - 1])
        logger.info("gave up on webhook %s after %d attempts", delivery.event, len(delays) + 1)
        delivery.report("failed")

    async def _attempt(self, delivery: Delivery, attempt: int, note: str = "") -> bool:
        loop = asyncio.get_running_loop()
        started = loop.time()
        status, reply, detail = await self._post(delivery.body)
        ok = status == 200
        if ok and reply is not None:
            detail = self._honour_reply(delivery, reply) or detail
        self._store.record(
            direction="webhook",
            title=delivery.event,
            status=status,
            ok=ok,
            detail="; ".join(part for part in (note, detail) if part),
            attempt=attempt,
            webhook_id=str(delivery.body.get("webhook_id")),
            duration_ms=int((loop.time() - started) * 1000),
        )
        logger.debug("webhook %s attempt %d -> %s", delivery.event, attempt, status)
        return ok

    async def _post(self, body: JsonDict) -> tuple[int | None, bytes | None, str]:
        assert self._session is not None and self.webhook_url, "dispatcher is not open"
        try:
            async with self._session.post(
                self.webhook_url, data=json.dumps(body), headers=self._headers()
            ) as response:
                payload = await response.read()
                detail = "" if response.status == 200 else _snippet(payload)
                return response.status, payload, detail
        except asyncio.TimeoutError:
            return None, None, f"no answer within {self._config.webhook_timeout:g} s"
        except aiohttp.ClientError as exc:
            return None, None, f"{type(exc).__name__}: {exc}"[:_DETAIL_CHARS]

    def _headers(self) -> dict[str, str]:
        return webhook_headers(self._config.api, self._config.webhook_auth)

    def _honour_reply(self, delivery: Delivery, payload: bytes) -> str:
        """Legacy only: a 200 body of ``{"typing": N, "read": true}`` drives the chat."""
        if self._config.api != "legacy" or delivery.event not in _REPLY_EVENTS:
            return ""
        try:
            reply = json.loads(payload) if payload.strip() else {}
        except ValueError:
            return ""
        if not isinstance(reply, dict):
            return ""
        notes = []
        typing = reply.get("typing")
        if isinstance(typing, int) and not isinstance(typing, bool) and typing > 0:
            seconds = min(typing, MAX_TYPING_SECONDS)
            self._store.set_typing(delivery.conversation, seconds)
            notes.append(f"typing {seconds} s")
        if reply.get("read") is True:
            self._store.mark_read(delivery.conversation)
            notes.append("read")
        return "reply: " + ", ".join(notes) if notes else ""


def webhook_headers(api: Api, authorization: str | None) -> dict[str, str]:
    """The headers LoopMessage sends with every webhook; Authorization only when configured."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "LoopMessage" if api == "current" else "LoopServer",
        "Connection": "close",
    }
    if authorization:
        headers["Authorization"] = authorization
    return headers


def _snippet(payload: bytes) -> str:
    return payload[:_DETAIL_CHARS].decode("utf-8", "replace").strip()
