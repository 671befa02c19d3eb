"""The Rasa input channel `imessage`: LoopMessage webhooks in, Rasa turns out.

The webhook handler does no bot work. It checks the `Authorization` header, parses the body,
claims the `webhook_id` and queues the turn, then answers 200 within milliseconds; the turn
runs in the background, in arrival order per conversation (see tasks.py). The answer is
decided by intake.py, here on Rasa's port (Sanic) and, with `webhook_port`, in a process of
its own (front.py), which hands each accepted webhook over for its turn to be queued here.
Sanic types stay in this module; the mapping to Rasa lives in inbound.py and responses.py.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Coroutine, Dict, List, Optional, Set, Tuple

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from .auth import WebhookAuth
from .buttons import MAX_REPLY_LENGTH, match_button
from .cancelling import cancel_and_wait
from .collector import freeze_startup_objects, raise_young_threshold
from .config import IMessageConfig, load_config
from .cores import usable_cores
from .front import FrontError, FrontStore, WebhookFront
from .hints import action_validation_hint
from .idempotency import IdempotencyStore, Recovered, configured_store
from .inbound import TurnInput, conversation_of, send_failure_turn, to_turn
from .indicator import TypingIndicators
from .intake import Answer, answer_webhook, error
from .leases import LeaseKeeper
from .loopmessage import (
    APIError,
    EventKind,
    InboundEvent,
    LoopMessageAPI,
    LoopMessageClient,
    LoopMessageError,
    PayloadError,
    RetryPolicy,
    WorkerClient,
    mask_contact,
    parse_webhook,
)
from .offers import ButtonOffers
from .outbound import CHANNEL_NAME, IMessageOutput
from .tasks import Draining, QueueFull, TurnRunner

__all__ = ["IMessageInput", "LoopMessageInput"]

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]

_SENT_IDS_KEPT = 10000  # outbound message ids remembered to spot replies to the bot
# Typing indicators are cosmetic. While LoopMessage is slow or down each call may wait
# request_timeout per attempt, so past this many in flight new ones are skipped, not piled up;
# half the client's 100 pooled connections, so hung typing calls never starve the replies.
_MAX_TYPING_CALLS = 50


class IMessageInput(InputChannel):
    """`rasa_imessage.IMessageInput` in credentials.yml; webhook `/webhooks/imessage/webhook`."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> IMessageInput:
        return cls(load_config(credentials))

    def __init__(
        self,
        config: IMessageConfig,
        *,
        client: Optional[LoopMessageAPI] = None,
        store: Optional[IdempotencyStore] = None,
    ) -> None:
        self.config = config
        secret = config.webhook_auth.get_secret_value() if config.webhook_auth else None
        self.auth = WebhookAuth(secret)
        if not self.auth.enabled:
            logger.warning(
                "iMessage webhooks are NOT authenticated (allow_unauthenticated_webhooks: true): "
                "anyone who finds the URL can talk as any contact. Set webhook_auth in production."
            )
        self.store = store or self._create_store(config)
        self.turns = TurnRunner(config.max_concurrent_turns, config.max_queued_turns)
        # Buttons on the table per conversation, so a reply needs no tracker read; not with
        # a shared store, where other replicas run some of the turns (offers.py).
        self._offers = ButtonOffers(cached=not self.store.shared)
        self._leases = LeaseKeeper(self.store, self._recover, self._can_take_over)
        self._stopping = False  # set while the server drains: new webhooks get 503
        self._app: Any = None
        self._client = client
        self._owns_client = client is None  # a client passed in is the caller's to close
        self._side_tasks: Set[asyncio.Future[None]] = set()
        self._typing = TypingIndicators(
            self._show_typing,
            self._spawn,
            seconds=config.typing_seconds,
            read=config.mark_read,
            delay=config.typing_delay,
            limit=_MAX_TYPING_CALLS,
        )
        self._sent_ids: OrderedDict[str, None] = OrderedDict()
        self._handler: Optional[OnNewMessage] = None  # set by blueprint(); runs failure turns
        self._front: Optional[WebhookFront] = None  # `webhook_port`: its process

    def _create_store(self, config: IMessageConfig) -> IdempotencyStore:
        if config.webhook_port is not None and config.dedupe_store == "memory":
            return FrontStore(lambda: self._front)  # one list for both ports, in the process
        return configured_store(config)

    # -- the LoopMessage client, created lazily inside the server's event loop ----------------

    def client(self) -> LoopMessageAPI:
        if self._client is None:
            retry = RetryPolicy(max_retries=self.config.max_retries)
            maker = WorkerClient if self._use_send_worker() else LoopMessageClient
            self._client = maker(self.config.client_config(), retry=retry)
        return self._client

    def _use_send_worker(self) -> bool:
        """`send_worker: auto` uses a child when another core is there to run it."""
        if self.config.send_worker is not None:
            return self.config.send_worker
        cores = usable_cores()
        logger.info(
            "iMessage: %.3g cores usable, so LoopMessage calls are made %s "
            "(send_worker: true or false decides it instead)",
            cores,
            "by a child process" if cores >= 2 else "by this process",
        )
        return cores >= 2

    def get_output_channel(self) -> IMessageOutput:
        """For `trigger_intent?output_channel=imessage` and reminders: no request needed."""
        return self._output()

    def _output(
        self, *, last_user_message_id: Optional[str] = None, report_failures: bool = True
    ) -> IMessageOutput:
        return IMessageOutput(
            self.client,
            self.config,
            last_user_message_id=last_user_message_id,
            on_failure=self._delivery_failed if report_failures else None,
            on_sent=self._remember_sent,
            on_offer=self._offers.offered if self._offers.cached else None,
            # The typing indicator of this message, if still pending or on its way.
            indicator=self._typing.get(last_user_message_id),
        )

    def _remember_sent(self, result: Any) -> None:
        self._sent_ids[str(result.message_id)] = None
        while len(self._sent_ids) > _SENT_IDS_KEPT:
            self._sent_ids.popitem(last=False)

    # -- the blueprint ------------------------------------------------------------------------

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint("imessage_webhook")
        self._handler = on_new_message

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json(self._health())

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            answer = await self._answer_here(
                request.headers.get("Authorization"), request.body or b""
            )
            return response.json(answer.body, status=answer.status)

        @webhook.listener("before_server_start")
        async def start(app: Any, *_: Any) -> None:
            self._app, self._stopping = app, False
            self._leases.start()

        @webhook.listener("after_server_start")
        async def started(app: Any, *_: Any) -> None:
            client = self.client()
            if isinstance(client, WorkerClient):
                await client.start()  # now, not on the first reply, which would wait for it
            hint = action_validation_hint(getattr(app.ctx, "agent", None))
            if hint:
                logger.warning(hint)
            frozen = freeze_startup_objects()  # after Rasa has loaded the model
            if frozen:
                logger.info("%d start-up objects exempted from full GC passes", frozen)
            threshold = raise_young_threshold()
            if threshold:
                logger.info("GC: youngest generation collected every %d new objects", threshold)
            await self._start_front()

        @webhook.listener("before_server_stop")
        async def drain(app: Any, *_: Any) -> None:
            # Turns in flight finish (their delivery-failed follow-ups included); webhooks
            # arriving now get 503 and come back with LoopMessage's retry.
            self._stopping = True
            if self._front is not None:  # what it acked is queued before the drain starts
                self._front.report()
                await self._front.close_port()
            await self.turns.drain(self.config.shutdown_timeout)
            # Typing indicators had the turns' grace period; one to a hung API must not
            # hold the shutdown, and none still waiting out its delay may start.
            self._typing.stop_delays()
            await cancel_and_wait(list(self._side_tasks))

        @webhook.listener("after_server_stop")
        async def close(app: Any, *_: Any) -> None:
            front, self._front = self._front, None
            if front is not None:
                await front.aclose()
            await self._leases.stop()
            if self._client is not None and self._owns_client:
                await self._client.aclose()
                self._client = None
            await self.store.aclose()

        return webhook

    def _health(self) -> Dict[str, Any]:
        return {
            "status": "ok",
            "channel": CHANNEL_NAME,
            "api": self.config.api,
            "webhook_auth": self.auth.enabled,
            "turns_pending": self.turns.pending,
        }

    async def _answer_here(self, authorization: Optional[str], body: bytes) -> Answer:
        """A webhook on Rasa's port: answered on this loop, its turn queued at once."""
        return await answer_webhook(
            self.config,
            self.auth,
            authorization,
            body,
            ready=self._ready,
            stopping=self._is_stopping,
            store=self.store,
            hand_over=self._queue_here,
        )

    async def _queue_here(
        self, event: InboundEvent, key: Optional[str], body: bytes
    ) -> Optional[Answer]:
        try:
            self._queue_turn(event, key)
        except QueueFull as exc:
            logger.error("iMessage webhook deferred: %s (max_queued_turns)", exc)
            return error(503, "too many turns waiting; LoopMessage will retry")
        self._start_typing(event)
        return None

    # -- `webhook_port`: webhooks answered by a process of their own --------------------------

    async def _start_front(self) -> None:
        if self.config.webhook_port is None or self._front is not None:
            return
        # Set first: a webhook may be handed over as soon as the port listens.
        self._front = front = WebhookFront(self.config, self._front_turn, self._front_state)
        try:
            port = await front.start()
        except FrontError as exc:
            self._front = None
            logger.error("iMessage: %s; the server stops", exc)
            raise
        logger.info(
            "iMessage webhooks answered on %s:%d/webhooks/%s/webhook (webhook_port), by process %s",
            self.config.webhook_host,
            port,
            CHANNEL_NAME,
            front.pid,
        )

    def _front_state(self) -> Tuple[bool, bool, int]:
        return self._ready(), self._stopping, self.turns.pending

    def _front_turn(self, body: bytes, key: Optional[str], token: Optional[str]) -> None:
        """A webhook the port's process has acked: its turn is queued here, come what may
        (the process counted it against `max_queued_turns`). Its claim is this process's
        store's to end: adopted from Redis, or `FrontStore`'s, which ends it over there."""
        if key is not None:
            self.store.adopt(key, token)
        try:
            event = parse_webhook(body)
        except PayloadError:  # the process parsed it: not expected
            logger.exception("iMessage webhook %s from the webhook port could not be read", key)
            if key is not None:
                self._spawn(self.store.release(key))
            return
        try:
            self._queue_turn(event, key, reserved=True)
        except Draining:  # not expected: the port closes before the drain starts
            logger.error("iMessage webhook %s acked during shutdown: left to recovery", key)
            if key is not None:
                self._spawn(self.store.abandon(key))
            return
        self._start_typing(event)

    def _agent(self) -> Any:
        return getattr(getattr(self._app, "ctx", None), "agent", None)

    def _ready(self) -> bool:
        agent = self._agent()
        return agent is not None and _agent_ready(agent)

    def _is_stopping(self) -> bool:
        return self._stopping

    def _queue_turn(
        self, event: InboundEvent, key: Optional[str], *, reserved: bool = False
    ) -> None:
        """Queue the turn of a claimed webhook; the claim ends with the turn, whatever happens.

        Done once the turn has run; released when it failed (a LoopMessage retry may run it
        again); abandoned when shutdown cancelled it (a shared store lets another replica run
        it, the in-memory one leaves it to LoopMessage's retry).
        """

        async def run() -> None:
            handler, agent = self._handler, self._agent()
            if handler is None:
                raise RuntimeError("the channel's blueprint was never built")
            await self._run_turn(event, agent, handler)
            if key is not None:
                await self.store.complete(key)

        async def failed() -> None:
            if key is not None:
                await self.store.release(key)

        async def cancelled() -> None:
            if key is not None:
                await self.store.abandon(key)

        self.turns.submit(
            conversation_of(event) or "unknown",
            _releasing(run, failed),
            label=f"{event.event} {event.webhook_id}",
            on_cancel=cancelled,
            reserved=reserved,
        )

    def _can_take_over(self) -> bool:
        """Room to run another replica's orphaned webhooks: model loaded, queue half empty."""
        return (
            not self._stopping
            and self._ready()
            and self.turns.pending < self.config.max_queued_turns // 2
        )

    async def _recover(self, recovered: List[Recovered]) -> None:
        """Run the turns of webhooks taken over from a replica that stopped."""
        for item in recovered:
            if item.body is None:
                logger.error(
                    "iMessage webhook %s given up: its turn never completed in %d attempts",
                    item.key,
                    item.attempt,
                )
                continue
            if self._handler is None or not self._ready() or self._stopping:
                await self.store.abandon(item.key)
                continue
            try:
                event = parse_webhook(item.body)
                self._queue_turn(event, item.key)
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

    def _start_typing(self, event: InboundEvent) -> None:
        """Current API: the typing indicator and read receipt are calls of their own."""
        if event.kind is not EventKind.message or self.config.api == "legacy":
            return
        if (self.config.typing_seconds or self.config.mark_read) and event.message_id:
            self._typing.start(event.message_id)

    async def _show_typing(self, message_id: str, seconds: int, read: bool) -> None:
        try:
            await self.client().show_typing(message_id=message_id, seconds=seconds, read=read)
        except LoopMessageError as exc:
            logger.info("typing indicator not shown: %s", exc)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        """A side task (a typing indicator): its steps queue with the turns' for the CPU, so a
        burst of webhooks is acked before the typing calls it starts are built."""
        task = self.turns.side_task(coroutine)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)
        return task

    # -- the turn -----------------------------------------------------------------------------

    async def _run_turn(
        self, event: InboundEvent, agent: Any, on_new_message: OnNewMessage
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
        if turn is None:
            return
        self._offers.answered(turn.sender_id)
        is_failure_turn = event.kind is EventKind.failed
        answered = event.message_id if event.kind is EventKind.message else None
        output = self._output(last_user_message_id=answered, report_failures=not is_failure_turn)
        try:
            await on_new_message(_user_message(turn, output))
        finally:
            self._typing.turn_ended(answered)  # no reply yet, and none coming: mark read

    async def _delivery_failed(self, conversation: str, error: LoopMessageError) -> None:
        """A send failed for good: tell the bot, in that conversation, after the current turn."""
        intent = self.config.delivery_failed_intent
        if intent is None:
            return
        code = error.code if isinstance(error, APIError) else None
        kind = error.kind.value if isinstance(error, APIError) else "connection"
        turn = send_failure_turn(conversation, intent, code, kind, str(error), uuid.uuid4().hex)
        handler = self._handler
        if handler is None:
            return

        async def run() -> None:
            self._offers.answered(conversation)
            await handler(_user_message(turn, self._output(report_failures=False)))

        try:
            self.turns.submit(conversation, run, label=f"delivery failed {code}")
        except QueueFull:
            logger.error(
                "delivery-failed turn for %s dropped: queue full", mask_contact(conversation)
            )


class LoopMessageInput(IMessageInput):
    """Alias: `rasa_imessage.LoopMessageInput` works in credentials.yml too."""


def _agent_ready(agent: Any) -> bool:
    is_ready = getattr(agent, "is_ready", None)
    if callable(is_ready):
        try:
            return bool(is_ready())
        except Exception:  # a stand-in agent in tests, or a future Rasa
            return True
    return True


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
