"""What follows an ack: the webhook's Rasa turn, its typing indicator and its replies.

channel.py answers webhooks and runs the server's lifecycle; it hands each claimed webhook
to `Conversations.queue`. From there the turn waits behind the earlier turns of its
conversation (tasks.py), becomes a Rasa `UserMessage` (inbound.py), and answers through an
output channel (outbound.py). On one process the replies go out through the conversation's
outbox while Rasa's turn goes on (outbox.py), and the turn's job waits for them. The
webhook's claim ends whatever happens: done, released for LoopMessage's retry, or abandoned
at shutdown. A send that fails for good comes back as a delivery-failed turn in the same
conversation.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections import OrderedDict
from dataclasses import replace
from typing import Any, Awaitable, Callable, Coroutine, Dict, List, Optional, Set

from rasa.core.channels.channel import UserMessage

from .breaker import BREAK_AFTER, BREAK_FOR, Breaker
from .buttons import MAX_REPLY_LENGTH, match_button
from .cancelling import cancel_and_wait
from .config import IMessageConfig
from .hosted_media import SharedMedia, media_host_for
from .idempotency import IdempotencyStore, Recovered
from .inbound import TurnInput, conversation_of, send_failure_turn, to_turn
from .indicator import TypingIndicators
from .loopmessage import (
    APIError,
    EventKind,
    InboundEvent,
    LoopMessageAPI,
    LoopMessageError,
    PayloadError,
    mask_contact,
    parse_webhook,
)
from .merging import Bubbles, leads_in, mergeable, merged, with_bubble_ids
from .metrics import BUBBLES_JOINED, DELIVERY_FAILURES, TURNS, TYPING_CALLS, Metrics
from .offers import ButtonOffers
from .outbound import CHANNEL_NAME, IMessageOutput
from .outbox import Outbox
from .reply_senders import ReplySenders
from .tasks import QueueFull, TurnRunner

__all__ = ["Conversations", "OnNewMessage"]

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]

_SENT_IDS_KEPT = 10000  # outbound message ids remembered to spot replies to the bot
# Typing indicators are cosmetic. While LoopMessage is slow or down each call may wait
# request_timeout per attempt, so past this many in flight new ones are skipped, not piled up;
# half the client's 100 pooled connections, so hung typing calls never starve the replies.
_MAX_TYPING_CALLS = 50


class Conversations:
    """Turns of claimed webhooks, and the indicators and replies that go with them."""

    def __init__(
        self,
        config: IMessageConfig,
        store: IdempotencyStore,
        runner: TurnRunner,
        client: Callable[[], LoopMessageAPI],
        agent: Callable[[], Any],
        metrics: Optional[Metrics] = None,
        media_shared: Optional[SharedMedia] = None,
    ) -> None:
        self.config = config
        self.metrics = metrics if metrics is not None else Metrics()
        self.store = store
        self.runner = runner
        self.handler: Optional[OnNewMessage] = None  # Rasa's, set by the channel's blueprint
        self._client = client
        self._agent = agent
        # Buttons on the table per conversation, so a reply needs no tracker read; not with
        # a shared store, where other replicas run some of the turns (offers.py).
        self._offers = ButtonOffers(cached=not store.shared)
        # The sender each conversation writes to, for its replies (current API).
        self._senders = ReplySenders()
        # The bot's own files and `data:` URLs, served to LoopMessage (`public_url`); the
        # `data:` files shared with replicas (Redis) or with `webhook_port`'s process.
        self.media = media_host_for(config, shared=media_shared)
        # `bubble_pause` with a typing indicator shows it in each pause (current API).
        shows_typing = config.typing_seconds > 0 and config.api == "current"
        self._pause_typing = (
            self._typing_between if config.bubble_pause > 0 and shows_typing else None
        )
        self.side_tasks: Set[asyncio.Future[None]] = set()
        self._typing = TypingIndicators(
            self._show_typing,
            self.spawn,
            seconds=config.typing_seconds,
            read=config.mark_read,
            delay=config.typing_delay,
            limit=_MAX_TYPING_CALLS,
        )
        # Show-typing calls pause after failing again and again (breaker.py).
        self._typing_calls = Breaker()
        self._sent_ids: OrderedDict[str, None] = OrderedDict()
        # Replies sent beside Rasa's turn; inside it where replicas share the store, whose
        # turns only Rasa's lock keeps apart (outbox.py).
        self.outbox: Optional[Outbox] = None if store.shared else Outbox(self.spawn)
        # Per one-to-one conversation, the bubbles still being gathered for a turn
        # (`merge_window`, merging.py).
        self._gathering: Dict[str, Bubbles] = {}

    # -- replies ------------------------------------------------------------------------------

    def output(
        self,
        *,
        last_user_message_id: Optional[str] = None,
        report_failures: bool = True,
        push: bool = False,
    ) -> IMessageOutput:
        """An output channel: a turn's, or with `push` one for `trigger_intent` and reminders,
        which may read a conversation's sender from the tracker (reply_senders.py)."""
        return IMessageOutput(
            self._client,
            self.config,
            last_user_message_id=last_user_message_id,
            on_failure=self._delivery_failed if report_failures else None,
            on_sent=self._remember_sent,
            on_offer=self._offers.offered if self._offers.cached else None,
            # The typing indicator of this message, if still pending or on its way.
            indicator=self._typing.get(last_user_message_id),
            outbox=self.outbox,
            metrics=self.metrics,
            reply_sender=self._reply_sender(push),
            media=self.media,
            typing_between=self._pause_typing,
        )

    def _reply_sender(self, push: bool) -> Optional[Callable[[str], Awaitable[Optional[str]]]]:
        if self.config.api != "current":
            return None
        if not push:
            return self._senders.known
        return lambda conversation: self._senders.read(self._agent(), conversation)

    def _remember_sent(self, result: Any) -> None:
        self._sent_ids[str(result.message_id)] = None
        while len(self._sent_ids) > _SENT_IDS_KEPT:
            self._sent_ids.popitem(last=False)

    # -- the typing indicator -----------------------------------------------------------------

    def _start_indicator(self, event: InboundEvent) -> None:
        """Current API: the typing indicator and read receipt are calls of their own. A
        gathered turn gets them once its gathering ends, for its last bubble."""
        if event.kind is not EventKind.message or self.config.api == "legacy":
            return
        if (self.config.typing_seconds or self.config.mark_read) and event.message_id:
            if self._typing_calls.paused:  # no indicator armed, so no reply waits for one
                self.metrics.add(TYPING_CALLS, "paused")
                return
            self._typing.start(event.message_id)

    @property
    def typing_paused(self) -> bool:
        return self._typing_calls.paused

    async def _typing_between(self, message_id: str, seconds: float) -> None:
        await self._show_typing(message_id, max(1, math.ceil(seconds)), read=False)

    async def _show_typing(self, message_id: str, seconds: int, read: bool) -> None:
        if self._typing_calls.paused:
            self.metrics.add(TYPING_CALLS, "paused")
            return
        try:
            await self._client().show_typing(message_id=message_id, seconds=seconds, read=read)
        except LoopMessageError as exc:
            self.metrics.add(TYPING_CALLS, "failed")
            if self._typing_calls.failed():
                logger.warning(
                    "typing indicators and read receipts paused for %.0f s: LoopMessage "
                    "refused %d calls in a row, the last with: %s",
                    BREAK_FOR, BREAK_AFTER, exc,
                )  # fmt: skip
            else:
                logger.info("typing indicator not shown: %s", exc)
        else:
            self.metrics.add(TYPING_CALLS, "ok")
            self._typing_calls.succeeded()

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        """A side task (a typing indicator, an outbox's sender): its steps queue with the
        turns' for the CPU, so a burst of webhooks is acked before the calls it makes are
        built."""
        task = self.runner.side_task(coroutine)
        self.side_tasks.add(task)
        task.add_done_callback(self.side_tasks.discard)
        return task

    async def stop_side_work(self) -> None:
        """Shutdown, once the turns have drained. Replies still queued (a reminder's, a
        `trigger_intent`'s, a cancelled turn's) get `shutdown_timeout` again. Typing
        indicators had the turns' grace period: one to a hung API must not hold the
        shutdown, and none still waiting out its delay may start."""
        self._typing.stop_delays()
        if self.outbox is not None:
            await self.outbox.wait_all(self.config.shutdown_timeout)
        await cancel_and_wait(list(self.side_tasks))

    # -- turns --------------------------------------------------------------------------------

    def queue(
        self,
        event: InboundEvent,
        key: Optional[str],
        *,
        reserved: bool = False,
        show_typing: bool = False,
    ) -> None:
        """Queue the turn of a claimed webhook; the claim ends with the turn, whatever happens.

        Done once the turn has run; released when it failed (a LoopMessage retry may run it
        again); abandoned when shutdown cancelled it (a shared store lets another replica run
        it, the in-memory one leaves it to LoopMessage's retry). Done as well when shutdown
        cancelled it after Rasa's turn returned, while its replies were still on their way:
        Rasa has saved the turn and the outbox sends the replies, so running it again would
        answer it twice. With `merge_window`, a bubble may join the turn of the bubbles before
        it instead (merging.py): that turn then ends every claim of them.

        `show_typing` (a webhook just acked, not a turn taken over from another replica)
        starts the typing indicator once the turn is queued, unless its bubbles are being
        gathered: their turn starts it when the gathering ends.
        """
        conversation = conversation_of(event) or "unknown"
        bubbles = self._gather(conversation, event, key)
        if bubbles is not None and bubbles.events[0] is not event:
            self.metrics.add(BUBBLES_JOINED)
            return  # it joined bubbles whose turn is queued already
        # The claims this turn ends: a gathering's own list, which later bubbles join.
        keys = bubbles.keys if bubbles is not None else [key] if key is not None else []
        rasa_returned = asyncio.Event()

        async def run() -> None:
            try:  # first: a bubble must not join a turn that fails
                events = [event] if bubbles is None else await self._gathered(bubbles)
            finally:
                self._stop_gathering(conversation, bubbles)
            handler, agent = self.handler, self._agent()
            if handler is None:
                raise RuntimeError("the channel's blueprint was never built")
            await self._run(merged(events), agent, handler, rasa_returned, events)
            for each in keys:
                await self.store.complete(each)
            self.metrics.add(TURNS, "done")
            if event.kind is EventKind.failed:  # counted once its turn ran, on one replica
                self.metrics.add(DELIVERY_FAILURES)

        async def failed() -> None:
            self.metrics.add(TURNS, "failed")
            for each in keys:
                await self.store.release(each)

        async def cancelled() -> None:
            self.metrics.add(TURNS, "cancelled")
            self._stop_gathering(conversation, bubbles)  # no bubble may join a turn gone
            for each in keys:
                if rasa_returned.is_set():
                    await self.store.complete(each)
                else:
                    await self.store.abandon(each)

        try:
            self.runner.submit(
                conversation,
                _releasing(run, failed),
                label=f"{event.event} {event.webhook_id}",
                on_cancel=cancelled,
                reserved=reserved,
            )
        except QueueFull:
            self._stop_gathering(conversation, bubbles)
            raise
        if show_typing and bubbles is None:
            self._start_indicator(event)

    # -- bubbles gathered into one turn (`merge_window`) ----------------------------------------

    def _gather(
        self, conversation: str, event: InboundEvent, key: Optional[str]
    ) -> Optional[Bubbles]:
        """The bubbles `event` joins or starts; None for a turn of its own, which closes the
        conversation's gathering so that nothing after it goes before it."""
        if self.config.merge_window <= 0:
            return None
        gathering = self._gathering.get(conversation)
        if not mergeable(event):
            if gathering is not None:
                self._stop_gathering(conversation, gathering)
            return None
        waits = self.config.merge_mode == "all" or leads_in(event)
        if gathering is not None and gathering.add(event, key):
            if not waits:  # it completes what the bubbles before it announced
                self._stop_gathering(conversation, gathering)
            return gathering
        if gathering is not None:  # full: the next turn starts with this bubble
            self._stop_gathering(conversation, gathering)
        if not waits:
            return None
        self._gathering[conversation] = bubbles = Bubbles(event, key)
        return bubbles

    async def _gathered(self, bubbles: Bubbles) -> List[InboundEvent]:
        events = await bubbles.gathered(self.config.merge_window)
        if len(events) > 1:
            logger.info("iMessage: %d bubbles from %s in one turn",
                        len(events), mask_contact(events[-1].contact))  # fmt: skip
        self._start_indicator(events[-1])  # the typing delay counts from here
        return events

    def stop_gathering(self) -> None:
        """Shutdown: the turns of bubbles still being gathered start now, within the
        drain's `shutdown_timeout`, rather than wait out `merge_window` and maybe be cut."""
        for conversation, bubbles in list(self._gathering.items()):
            self._stop_gathering(conversation, bubbles)

    def _stop_gathering(self, conversation: str, bubbles: Optional[Bubbles]) -> None:
        if bubbles is None:
            return
        bubbles.close()
        if self._gathering.get(conversation) is bubbles:
            del self._gathering[conversation]

    async def recover(self, recovered: List[Recovered], accepting: Callable[[], bool]) -> None:
        """Run the turns of webhooks taken over from a replica that stopped; `accepting`
        says whether this server takes turns now (model loaded, not draining)."""
        for item in recovered:
            if item.body is None:
                logger.error(
                    "iMessage webhook %s given up: its turn never completed in %d attempts",
                    item.key,
                    item.attempt,
                )
                continue
            if self.handler is None or not accepting():
                await self.store.abandon(item.key)
                continue
            try:
                event = parse_webhook(item.body)
                self.queue(event, item.key)
            except PayloadError:  # stored by a version that parsed it: not expected
                logger.exception("iMessage webhook %s could not be recovered", item.key)
                await self.store.release(item.key)
            except QueueFull:
                await self.store.abandon(item.key)
            else:
                logger.warning(
                    "iMessage webhook %s taken over from a replica that stopped (attempt %d)",
                    item.key,
                    item.attempt,
                )

    async def _run(
        self,
        event: InboundEvent,
        agent: Any,
        on_new_message: OnNewMessage,
        rasa_returned: asyncio.Event,
        bubbles: List[InboundEvent],
    ) -> None:
        payload = None
        if event.kind is EventKind.message and 0 < len(event.text or "") <= MAX_REPLY_LENGTH:
            conversation = conversation_of(event)
            if conversation:
                offered = await self._offers.on_the_table(agent, conversation)
                payload = match_button(event.text, offered)
        turn = to_turn(
            event,
            self.config,
            button_payload=payload,
            replied_to_bot=bool(event.thread_id and event.thread_id in self._sent_ids),
        )
        answered = event.message_id if event.kind is EventKind.message else None
        if turn is None:  # a group message not for the bot, say: its indicator must not show
            self._typing.turn_ended(answered)
            return
        if len(bubbles) > 1:
            turn = replace(turn, metadata=with_bubble_ids(
                turn.metadata, bubbles, self.config.metadata_keys))  # fmt: skip
        self._offers.answered(turn.sender_id)
        if event.sender and self.config.api == "current":
            self._senders.remember(turn.sender_id, event.sender)
        is_failure_turn = event.kind is EventKind.failed
        output = self.output(last_user_message_id=answered, report_failures=not is_failure_turn)
        try:
            await _answer(on_new_message, turn, output, rasa_returned)
        finally:
            self._typing.turn_ended(answered)  # no reply yet, and none coming: mark read

    async def _delivery_failed(self, conversation: str, error: LoopMessageError) -> None:
        """A send failed for good: tell the bot, in that conversation, after the current turn."""
        intent = self.config.delivery_failed_intent
        if intent is None:
            return
        code = error.code if isinstance(error, APIError) else None
        kind = error.kind.value if isinstance(error, APIError) else "connection"
        turn = send_failure_turn(
            conversation, intent, code, kind, str(error), uuid.uuid4().hex,
            self.config.metadata_keys,
        )  # fmt: skip
        handler = self.handler
        if handler is None:
            return

        async def run() -> None:
            self._offers.answered(conversation)
            await _answer(handler, turn, self.output(report_failures=False))

        try:
            self.runner.submit(conversation, run, label=f"delivery failed {code}")
        except QueueFull:
            logger.error(
                "delivery-failed turn for %s dropped: queue full", mask_contact(conversation)
            )


async def _answer(
    on_new_message: OnNewMessage,
    turn: TurnInput,
    output: IMessageOutput,
    rasa_returned: Optional[asyncio.Event] = None,
) -> None:
    """Rasa's turn, then its replies: a turn is done once they are sent or have failed."""
    await on_new_message(_user_message(turn, output))
    if rasa_returned is not None:
        rasa_returned.set()
    await output.sent()


def _user_message(turn: TurnInput, output: IMessageOutput) -> UserMessage:
    return UserMessage(
        turn.text,
        output,
        turn.sender_id,
        input_channel=CHANNEL_NAME,
        message_id=turn.message_id,
        metadata=turn.metadata,
    )


def _releasing(
    run: Callable[[], Awaitable[None]], release: Callable[[], Awaitable[None]]
) -> Callable[[], Coroutine[Any, Any, None]]:
    """Release the claim when the turn fails, so a LoopMessage retry can run it again."""

    async def job() -> None:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            await release()
            raise

    return job
