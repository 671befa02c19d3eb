"""The Rasa input channel `imessage`: LoopMessage webhooks in, Rasa turns out.

The webhook handler does no bot work. It checks the `Authorization` header, parses the body,
claims the `webhook_id` and queues the turn, then answers 200 within milliseconds; the turn
runs in the background, in arrival order per conversation (see tasks.py). The answer is
decided by intake.py, here on Rasa's port (Sanic) and, with `webhook_port`, in a process of
its own (front.py), which hands each accepted webhook over for its turn to be queued here.
Sanic types and the server's lifecycle stay in this module; what follows an ack (the turn,
its typing indicator, its replies) lives in conversations.py, the mapping to Rasa in
inbound.py and responses.py.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

from rasa.core.channels.channel import InputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from .auth import WebhookAuth
from .config import IMessageConfig, load_config
from .conversations import Conversations, OnNewMessage
from .cores import usable_cores
from .front import FrontError, FrontMedia, FrontStore, WebhookFront
from .hosted_route import media_answer, media_url_parts
from .idempotency import IdempotencyStore, Recovered, configured_store
from .intake import Answer, answer_webhook, error
from .leases import LeaseKeeper
from .loopmessage import (
    InboundEvent,
    LoopMessageAPI,
    LoopMessageClient,
    PayloadError,
    RetryPolicy,
    WorkerClient,
    parse_webhook,
)
from .metrics import CONTENT_TYPE, MEDIA_FETCHES, WEBHOOKS, Gauge, Metrics
from .outbound import CHANNEL_NAME, IMessageOutput
from .tasks import Draining, QueueFull, TurnRunner
from .tuning import tune_process

__all__ = ["IMessageInput", "LoopMessageInput"]

logger = logging.getLogger(__name__)


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
        # `is not None`: a store passed in empty has no length, so it is falsy
        self.store = store if store is not None else self._create_store(config)
        self.turns = TurnRunner(config.max_concurrent_turns, config.max_queued_turns)
        self.metrics = Metrics()  # counted always; served with `metrics: true`
        # `webhook_port`: its process serves the `data:` files it is given (with Redis,
        # media_host_for shares them there instead).
        self._pushed_media = (
            FrontMedia(lambda: self._front) if config.webhook_port is not None else None
        )
        self.conversations = Conversations(
            config, self.store, self.turns, self.client, self._agent, self.metrics,
            self._pushed_media,
        )  # fmt: skip
        self._leases = LeaseKeeper(self.store, self._recover, self._can_take_over)
        self._stopping = False  # set while the server drains: new webhooks get 503
        self._app: Any = None
        self._client = client
        self._owns_client = client is None  # a client passed in is the caller's to close
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
        return self.conversations.output(push=True)

    # -- the blueprint ------------------------------------------------------------------------

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint("imessage_webhook")
        self.conversations.handler = on_new_message

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json(self._health())

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            answer = await self._answer_here(
                request.headers.get("Authorization"), request.body or b""
            )
            self.metrics.add(WEBHOOKS, answer.outcome)
            return response.json(answer.body, status=answer.status)

        if self.conversations.media is not None:
            media = self.conversations.media

            @webhook.route("/media/<rest:path>", methods=["GET", "HEAD"])
            async def hosted(request: Request, rest: str) -> HTTPResponse:
                parts = media_url_parts(request.path)  # as webhook_port's process reads it
                served = None if parts is None else await media.fetch(*parts)
                answer = await media_answer(served, request.headers.get("range"))
                self.metrics.add(MEDIA_FETCHES, answer.outcome)
                return response.raw(answer.body, status=answer.status, headers=answer.headers,
                                    content_type=answer.content_type)  # fmt: skip

        if self.config.metrics:

            @webhook.route("/metrics", methods=["GET"])
            async def metrics(request: Request) -> HTTPResponse:
                page = self.metrics.render(self._gauges())
                return response.text(page, content_type=CONTENT_TYPE)

        @webhook.listener("before_server_start")
        async def start(app: Any, *_: Any) -> None:
            self._app, self._stopping = app, False
            self._leases.start()

        @webhook.listener("after_server_start")
        async def started(app: Any, *_: Any) -> None:
            client = self.client()
            if isinstance(client, WorkerClient):
                await client.start()  # now, not on the first reply, which would wait for it
            tune_process(self.config, getattr(app.ctx, "agent", None))
            await self._start_front()

        @webhook.listener("before_server_stop")
        async def drain(app: Any, *_: Any) -> None:
            # Turns in flight finish (their delivery-failed follow-ups included); webhooks
            # arriving now get 503 and come back with LoopMessage's retry.
            self._stopping = True
            if self._front is not None:  # what it acked is queued before the drain starts
                self._front.report()
                await self._front.close_port()
            self.conversations.stop_gathering()  # bubbles being gathered: their turns now
            await self.turns.drain(self.config.shutdown_timeout)
            await self.conversations.stop_side_work()

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
            if self.conversations.media is not None:
                await self.conversations.media.aclose()

        return webhook

    def _gauges(self) -> List[Gauge]:
        return [
            ("rasa_imessage_turns_pending", "Turns queued or running", lambda: self.turns.pending),
            (
                "rasa_imessage_typing_paused",
                "1 while typing calls are paused because they kept failing",
                lambda: int(self.conversations.typing_paused),
            ),
        ]

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
            self.conversations.queue(event, key, show_typing=True)
        except QueueFull as exc:
            logger.error("iMessage webhook deferred: %s (max_queued_turns)", exc)
            return error(503, "too many turns waiting; LoopMessage will retry", "busy")
        return None

    # -- `webhook_port`: webhooks answered by a process of their own --------------------------

    async def _start_front(self) -> None:
        if self.config.webhook_port is None or self._front is not None:
            return
        media = self.conversations.media
        pushed = media if media is not None and media.shared is self._pushed_media else None
        # Set first: a webhook may be handed over as soon as the port listens.
        self._front = front = WebhookFront(
            self.config,
            self._front_turn,
            self._front_state,
            self._front_answers,
            on_fetches=self._front_fetches,
            # A restarted process is given the `data:` files made so far, unless it reads
            # them in Redis.
            kept_files=pushed.kept_files if pushed is not None else lambda: (),
        )
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

    def _front_answers(self, counts: Dict[str, int]) -> None:
        self.metrics.add_all(WEBHOOKS, counts)

    def _front_fetches(self, counts: Dict[str, int]) -> None:
        self.metrics.add_all(MEDIA_FETCHES, counts)

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
                self.conversations.spawn(self.store.release(key))
            return
        try:
            self.conversations.queue(event, key, reserved=True, show_typing=True)
        except Draining:  # not expected: the port closes before the drain starts
            logger.error("iMessage webhook %s acked during shutdown: left to recovery", key)
            if key is not None:
                self.conversations.spawn(self.store.abandon(key))

    def _agent(self) -> Any:
        return getattr(getattr(self._app, "ctx", None), "agent", None)

    def _ready(self) -> bool:
        agent = self._agent()
        return agent is not None and _agent_ready(agent)

    def _is_stopping(self) -> bool:
        return self._stopping

    def _can_take_over(self) -> bool:
        """Room to run another replica's orphaned webhooks: model loaded, queue half empty."""
        return (
            not self._stopping
            and self._ready()
            and self.turns.pending < self.config.max_queued_turns // 2
        )

    async def _recover(self, recovered: List[Recovered]) -> None:
        """Run the turns of webhooks taken over from a replica that stopped."""
        await self.conversations.recover(
            recovered, accepting=lambda: self._ready() and not self._stopping
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
