"""What follows a message: its bubble, its status changes and the webhooks they cause.

Bot sends (accepted by the API routes) move through the generation's statuses — current:
processing then delivered or failed; legacy: processing, scheduled, then sent or failed —
each step announced by its webhook with ``passthrough`` echoed. Messages people write on the
page become ``message_inbound`` webhooks, and a tapback on a bot bubble ``message_reaction``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from . import payloads
from .background import Background
from .config import EmulatorConfig
from .faults import Faults
from .optins import opt_in_of
from .store import Conversation, Message, Store, new_message_id
from .validation import SendPlan
from .webhooks import Outcome, WebhookDispatcher

BOT = "bot"
# The error code a failed delivery reports: "sent, but the destination reported Not delivered".
DELIVERY_FAILED_CODE = 1020


@dataclass(frozen=True)
class Inbound:
    """A message a person writes on the page (or a test through the dev API)."""

    contact: str
    text: str = ""
    conversation: str | None = None  # a group id; the contact's own thread when None
    attachments: list[str] = field(default_factory=list)
    subject: str | None = None
    message_type: str = "text"
    speech: str | None = None
    reply_to_id: str | None = None
    via: str | None = None  # which sender it is written to (current API); the first if None


class Lifecycle:
    """Creates messages and drives their webhooks; the API and dev routes call it."""

    def __init__(
        self,
        config: EmulatorConfig,
        store: Store,
        faults: Faults,
        dispatcher: WebhookDispatcher,
        background: Background,
    ) -> None:
        self._config = config
        self._store = store
        self._faults = faults
        self._dispatcher = dispatcher
        self._background = background

    # the bot sends --------------------------------------------------------------------------
    def accept_send(self, plan: SendPlan) -> Message:
        conversation = self._store.conversations[plan.conversation]
        message = Message(
            id=new_message_id(),
            conversation=plan.conversation,
            direction="outbound",
            sender=BOT,
            text=plan.text,
            subject=plan.subject,
            effect=plan.effect,
            attachments=plan.attachments,
            media_url=plan.media_url,
            message_type="audio" if plan.media_url else "text",
            reply_to_id=plan.reply_to_id,
            passthrough=plan.passthrough,
            reaction=plan.reaction,
            reaction_to=plan.target,
            channel=plan.channel,
            via=self._reply_via(plan),
            status="processing",
        )
        if plan.reaction and plan.target:
            self._set_tapback(self._store.messages[plan.target], BOT, plan.reaction)
        self._store.add_message(message)
        self._background.spawn(self._deliver(message, conversation), f"deliver:{message.id}")
        return message

    def _reply_via(self, plan: SendPlan) -> str | None:
        """The sender a send goes from: the one it names, else (LoopMessage picks) the one the
        conversation last wrote to, else the first."""
        if self._config.api != "current":
            return None
        return plan.sender or self._store.last_via(plan.conversation) or self._config.sender_id

    async def _deliver(self, message: Message, conversation: Conversation) -> None:
        if self._config.api == "legacy":
            self._store.update_message(message, status="scheduled")
            self._webhook(conversation, message, "message_scheduled")
        await asyncio.sleep(self._config.delivery_delay)
        failed = self._faults.take_delivery_fault()
        if self._config.api == "current":
            if failed:
                self._store.update_message(
                    message, status="failed", error_code=DELIVERY_FAILED_CODE
                )
                self._webhook(
                    conversation, message, "message_failed", error_code=DELIVERY_FAILED_CODE
                )
            else:
                self._store.update_message(message, status="delivered")
                self._webhook(conversation, message, "message_delivered")
        else:
            self._store.update_message(message, status="failed" if failed else "sent")
            self._webhook(conversation, message, "message_sent", success=not failed)

    def _webhook(
        self, conversation: Conversation, message: Message, event: str, **extra: object
    ) -> None:
        body = payloads.outbound_status(
            self._config.api, event, message, conversation, self._config, **extra
        )
        self._dispatcher.enqueue(conversation.key, body)

    # people write -------------------------------------------------------------------------
    def receive(self, inbound: Inbound) -> Message:
        conversation = (
            self._store.conversations[inbound.conversation]
            if inbound.conversation
            else self._store.contact_conversation(inbound.contact)
        )
        if conversation.kind == "group" and inbound.contact not in conversation.participants:
            conversation.participants.append(inbound.contact)
        message = Message(
            id=new_message_id(),
            conversation=conversation.key,
            direction="inbound",
            sender=inbound.contact,
            text=inbound.text,
            subject=inbound.subject,
            attachments=list(inbound.attachments),
            message_type=inbound.message_type,
            speech=inbound.speech,
            reply_to_id=inbound.reply_to_id,
            via=(inbound.via or self._config.sender_id) if self._config.api == "current" else None,
        )
        self._store.add_message(message)
        link = (
            opt_in_of(inbound.text, inbound.contact, self._store.opt_in_links)
            if self._config.api == "current" and conversation.kind == "contact"
            else None
        )
        if link is not None:
            link.opted_in.add(inbound.contact)  # the next message with its code is plain
        body = payloads.inbound(
            self._config.api, message, conversation, self._config,
            None if link is None else link.parameters,
        )  # fmt: skip
        self._dispatcher.enqueue(conversation.key, body, self._tracker(message))
        return message

    def opt_in(self, contact: str) -> None:
        """A contact opts in (first contact) without writing a message yet."""
        conversation = self._store.contact_conversation(contact)
        self._store.opted_in.add(contact)
        body = payloads.conversation_started(self._config.api, contact, self._config)
        self._dispatcher.enqueue(conversation.key, body)

    def call(self, contact: str, via: str | None = None) -> None:
        """A person FaceTimes the sender: the call rings unanswered, and the bot hears of it."""
        conversation = self._store.contact_conversation(contact)
        body = payloads.inbound_call(self._config.api, contact, via, self._config)
        self._dispatcher.enqueue(conversation.key, body)

    def react(self, target: Message, contact: str, reaction: str) -> None:
        """A person's tapback on a bot message; ``-love`` takes a love back."""
        self._set_tapback(target, contact, reaction)
        body = payloads.reaction(self._config.api, contact, target, reaction, self._config)
        self._dispatcher.enqueue(target.conversation, body)

    def _set_tapback(self, target: Message, who: str, reaction: str) -> None:
        tapbacks = dict(target.tapbacks)
        if reaction.startswith("-"):
            if tapbacks.get(who) == payloads.reaction_for("current", reaction[1:]):
                del tapbacks[who]
        else:
            tapbacks[who] = payloads.reaction_for("current", reaction)
        self._store.update_message(target, tapbacks=tapbacks)

    def _tracker(self, message: Message) -> Outcome:
        def on_outcome(outcome: str) -> None:
            self._store.update_message(message, status=outcome)

        return on_outcome
