"""The Rasa output channel `imessage`: bot responses out through LoopMessage.

With an outbox (one process, outbox.py), a response's sends are queued there and go out
while Rasa's turn goes on; `sent()` waits for them. Without one, they go out before
`send_response` returns, inside Rasa's turn.

Transport errors stop here. An exception raised from an output channel propagates out of
Rasa's processor before the tracker is saved, losing the whole turn (user message included),
so every failure is logged with LoopMessage's code, meaning and hint instead, and reported to
the optional `on_failure` hook (which starts the bot's delivery-failed intent).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Sequence, Set

from rasa.core.channels.channel import OutputChannel

from .buttons import Button, offered_buttons
from .config import IMessageConfig
from .hosted_media import MediaHost
from .indicator import TypingIndicator
from .lending import idle_wait, network_wait
from .loopmessage import (
    APIError,
    LoopMessageAPI,
    LoopMessageError,
    SendRequest,
    SendResult,
    mask_contact,
    send_in_order,
)
from .metrics import SENDS, Metrics
from .outbox import Outbox
from .responses import plan_response

__all__ = ["CHANNEL_NAME", "IMessageOutput", "SendFailure"]

logger = logging.getLogger(__name__)

CHANNEL_NAME = "imessage"

SendFailure = Callable[[str, LoopMessageError], Awaitable[None]]
ClientFactory = Callable[[], LoopMessageAPI]


class IMessageOutput(OutputChannel):
    """Sends each bot response as one or more iMessages, in order."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    def __init__(
        self,
        client: ClientFactory,
        config: IMessageConfig,
        *,
        last_user_message_id: Optional[str] = None,
        on_failure: Optional[SendFailure] = None,
        on_sent: Optional[Callable[[SendResult], None]] = None,
        on_offer: Optional[Callable[[str, List[Button]], None]] = None,
        indicator: Optional[TypingIndicator] = None,
        outbox: Optional[Outbox] = None,
        metrics: Optional[Metrics] = None,
        reply_sender: Optional[Callable[[str], Awaitable[Optional[str]]]] = None,
        media: Optional[MediaHost] = None,
        typing_between: Optional[Callable[[str, float], Awaitable[None]]] = None,
    ) -> None:
        super().__init__()  # Rasa Pro keeps streaming state in OutputChannel.__init__
        self._client = client
        self._config = config
        self._last_user_message_id = last_user_message_id
        self._on_failure = on_failure
        self._on_sent = on_sent
        self._on_offer = on_offer  # told of each message with buttons, before it is sent
        # The typing indicator of the message answered: told of the first reply, which
        # either makes it unneeded or waits (briefly) for it to land first.
        self._indicator = indicator
        self._outbox = outbox
        self._metrics = metrics
        # The sender a conversation writes to (reply_senders.py): its sends go from it.
        self._reply_sender = reply_sender
        self._media = media  # serves the bot's own files and data: URLs (`public_url`)
        self._queued_for: Set[str] = set()  # conversations this channel queued sends for
        self._last_bubble_at: Optional[float] = None  # `bubble_pause`: this turn's last send
        # `bubble_pause`: shows "typing…" for the message answered during each pause, since
        # a bubble landing hides the indicator.
        self._typing_between = typing_between

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        """Plan the whole response at once (text and image share a send), then send it, or
        queue it on the outbox."""
        if self._on_offer is not None:
            buttons = offered_buttons(message)
            if buttons:
                self._on_offer(recipient_id, buttons)
        plan = plan_response(
            message,
            recipient_id,
            self._config,
            last_user_message_id=self._last_user_message_id,
            sender=await self._reply_sender(recipient_id) if self._reply_sender else None,
            media=self._media,
        )
        if self._media is not None and self._media.unshared:
            await self._media.share()  # before a send names them: any replica may be asked
        for reason in plan.refused:
            logger.warning(
                "iMessage response to %s not sent: %s", mask_contact(recipient_id), reason
            )
        if self._outbox is None:
            await self._send_all(recipient_id, plan.sends)
        elif plan.sends:
            send = functools.partial(self._send_all, recipient_id, plan.sends)
            self._outbox.put(recipient_id, send)
            self._queued_for.add(recipient_id)
        return None

    async def sent(self) -> None:
        """Wait until what this channel queued on the outbox is sent or has failed, lending
        the turn's place meanwhile; at once without an outbox, which sent it already."""
        if self._outbox is None or not self._queued_for:
            return
        # With `bubble_pause` the wait is mostly pauses, which say nothing of how quickly
        # LoopMessage answers: it must not judge that (network_wait would stop lending).
        paced = self._config.bubble_pause > 0
        async with idle_wait() if paced else network_wait():
            for conversation in self._queued_for:
                await self._outbox.sent(conversation)

    async def _send_all(self, recipient_id: str, requests: Sequence[SendRequest]) -> None:
        """The response's bubbles in one call, each sent once the one before is accepted:
        through the send worker that is one frame and one answer for the lot."""
        if not requests:
            return
        if self._indicator is not None:
            indicator, self._indicator = self._indicator, None
            await indicator.before_reply()
        if self._config.bubble_pause > 0:  # one bubble at a time, each after its pause
            sent = await send_in_order(self._after_pause, requests)
        else:
            async with network_wait():  # another turn may compute meanwhile
                sent = await self._client().send_messages(requests)
        if self._on_sent is not None:
            for result in sent.results:
                self._on_sent(result)
        if self._metrics is not None:
            self._count(self._metrics, len(requests), len(sent.results), sent.error is not None)
        if sent.error is not None:  # it stopped the later bubbles: out of context without it
            self._log_failure(recipient_id, sent.error)
            if self._on_failure is not None:
                await self._on_failure(recipient_id, sent.error)

    async def _after_pause(self, request: SendRequest) -> SendResult:
        """`bubble_pause` seconds after the turn's bubble before it (its first goes at once)."""
        loop = asyncio.get_running_loop()
        if self._last_bubble_at is not None:
            async with idle_wait():  # another turn may compute; the pause is not the network's
                await self._pause(self._last_bubble_at + self._config.bubble_pause - loop.time())
        try:
            async with network_wait():
                return await self._client().send_message(request)
        finally:
            self._last_bubble_at = loop.time()

    async def _pause(self, seconds: float) -> None:
        """Wait, showing "typing…" meanwhile; its call is done before the next bubble goes,
        so the indicator never lands after it."""
        typing = None
        if seconds > 0 and self._typing_between and self._last_user_message_id:
            typing = asyncio.ensure_future(
                self._typing_between(self._last_user_message_id, seconds)
            )
        await asyncio.sleep(seconds)
        if typing is not None:
            await typing

    @staticmethod
    def _count(metrics: Metrics, planned: int, sent: int, failed: bool) -> None:
        metrics.add(SENDS, "sent", sent)
        if failed:  # the one that failed stopped the ones after it
            metrics.add(SENDS, "failed")
            if planned - sent - 1:
                metrics.add(SENDS, "skipped", planned - sent - 1)

    @staticmethod
    def _log_failure(recipient_id: str, exc: LoopMessageError) -> None:
        if isinstance(exc, APIError):
            logger.error(
                "iMessage to %s failed: LoopMessage code %s (HTTP %s): %s What to do: %s",
                mask_contact(recipient_id),
                exc.code,
                exc.status,
                exc.meaning,
                exc.hint,
            )
        else:
            logger.error("iMessage to %s failed: %s", mask_contact(recipient_id), exc)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": None, "image": image})

    async def send_attachment(self, recipient_id: str, attachment: Any, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": None, "attachment": attachment})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_response(recipient_id, {"text": text, "buttons": buttons})

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_response(recipient_id, {"text": text, "quick_replies": quick_replies})

    async def send_elements(
        self, recipient_id: str, elements: Iterable[Dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_response(recipient_id, {"text": None, "elements": list(elements)})

    async def send_custom_json(
        self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any
    ) -> None:
        await self.send_response(recipient_id, {"text": None, "custom": json_message})
