"""What a webhook is answered: auth, size, parse, readiness, claim, then the turn handed on.

One decision for both places that answer webhooks: the Sanic route on Rasa's port
(channel.py) and the process of their own that `webhook_port` starts (front_process.py).
No Rasa and no Sanic here; the caller says whether the bot is ready and hands the turn on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, Optional

from .auth import WebhookAuth
from .config import IMessageConfig
from .contact_lists import refusal
from .idempotency import Claim, IdempotencyStore, StoreUnavailable
from .loopmessage import EventKind, InboundEvent, PayloadError, mask_contact, parse_webhook

__all__ = [
    "TURN_EVENTS",
    "Answer",
    "HandOver",
    "answer_webhook",
    "dedupe_key",
    "error",
]

logger = logging.getLogger("rasa_imessage.channel")  # one logger name for every webhook line

# A sender's statuses that stop it sending (`sender_name_updated`).
_SENDER_DOWN = frozenset({"suspended", "canceled"})

# Events that start a Rasa turn; every other event is acknowledged and logged.
TURN_EVENTS = frozenset({
    EventKind.message, EventKind.reaction, EventKind.failed, EventKind.conversation_started,
    EventKind.inbound_call,
})  # fmt: skip


@dataclass(frozen=True)
class Answer:
    """A webhook's HTTP answer, whichever server sends it."""

    status: int
    body: Dict[str, Any] = field(default_factory=lambda: {"status": "ok"})
    # One word for what happened, the label of the webhook counter (metrics.py).
    outcome: str = "accepted"


def error(status: int, reason: str, outcome: str) -> Answer:
    return Answer(status, {"error": reason}, outcome)


# Queues the claimed webhook's turn (event, dedupe key, raw body), or says why it cannot.
HandOver = Callable[[InboundEvent, Optional[str], bytes], Awaitable[Optional[Answer]]]


async def answer_webhook(
    config: IMessageConfig,
    auth: WebhookAuth,
    authorization: Optional[str],
    body: bytes,
    *,
    ready: Callable[[], bool],
    stopping: Callable[[], bool],
    store: IdempotencyStore,
    hand_over: HandOver,
) -> Answer:
    """The answer to one webhook; its turn is handed over before a 200 goes out."""
    if not auth.is_valid(authorization):
        logger.warning("iMessage webhook rejected: missing or wrong Authorization header")
        return error(
            401,
            "missing or wrong Authorization header; it must equal the "
            "webhook header set in the LoopMessage dashboard",
            "unauthorized",
        )
    if len(body) > config.max_body_bytes:
        return error(
            413,
            f"body of {len(body)} bytes is over max_body_bytes ({config.max_body_bytes})",
            "too_large",
        )
    try:
        event = parse_webhook(body)
    except PayloadError as exc:
        logger.info("iMessage webhook refused: %s", exc)
        return error(400, str(exc), "bad_request")
    logger.info(
        "iMessage webhook %s id=%s message=%s from %s",
        event.event,
        event.webhook_id,
        event.message_id,
        mask_contact(event.contact),
    )
    if event.kind not in TURN_EVENTS:
        _log_status(event)
        return Answer(200, outcome="status")
    ignored_because = _refusal(config, event)
    if ignored_because is not None:
        # Acked, so LoopMessage does not retry for hours; before the readiness check, so
        # that holds while the model loads too. Not claimed: ignoring twice is ignoring.
        logger.info("iMessage %s from %s ignored: %s",
                    event.event, mask_contact(event.contact), ignored_because)  # fmt: skip
        return Answer(200, {"status": "ignored"}, "ignored")
    if not ready():
        return error(503, "the Rasa model is not loaded yet; LoopMessage will retry", "not_ready")
    if stopping():
        return error(503, "the bot is shutting down; LoopMessage will retry", "stopping")
    key = dedupe_key(event)
    if key is not None:
        # The body goes along: a shared store hands it to another replica if this one
        # dies before the turn has run (LoopMessage does not re-send what got a 200).
        kept = body.decode("utf-8") if store.shared else None
        try:
            claim = await store.claim(key, kept)
        except StoreUnavailable as exc:
            logger.error("iMessage webhook deferred: the dedupe store failed: %s", exc)
            return error(
                503, "the dedupe store is unavailable; LoopMessage will retry", "store_unavailable"
            )
        if claim is Claim.DONE:
            logger.info("iMessage webhook %s already handled: not answered twice", key)
            return Answer(200, {"status": "duplicate"}, "duplicate")
        if claim is Claim.IN_PROGRESS:
            return error(409, "this webhook_id is being handled; retry later", "in_progress")
    refused = await hand_over(event, key, body)
    if refused is not None:
        if key is not None:
            await _release(store, key)
        return refused
    return _accepted(config, event)


async def _release(store: IdempotencyStore, key: str) -> None:
    """Free the claim of a turn refused after it, so LoopMessage's retry can run it.

    A store that fails just then must not turn the refusal into a 500: the claim stays
    pending with its body, its lease runs out, and a replica takes the turn over.
    """
    try:
        await store.release(key)
    except StoreUnavailable as exc:
        logger.error(
            "iMessage webhook %s deferred, but its claim could not be released (%s); "
            "the turn is taken over once the claim's lease runs out",
            key,
            exc,
        )


def _refusal(config: IMessageConfig, event: InboundEvent) -> Optional[str]:
    """Why the contact lists keep this event from the bot, if they do. A failed delivery
    is about the bot's own send, to whomever the bot chose: its turn always runs."""
    lists = config.allowed_contacts, config.blocked_contacts
    if lists == (None, None) or event.kind is EventKind.failed:
        return None
    group = event.group.id if event.group is not None else None
    return refusal(event.contact, group, config.allowed_contacts, config.blocked_contacts)


def dedupe_key(event: InboundEvent) -> Optional[str]:
    if event.webhook_id:
        return event.webhook_id
    return f"{event.event}:{event.message_id}" if event.message_id else None


def _accepted(config: IMessageConfig, event: InboundEvent) -> Answer:
    """The 200 for a queued turn; the legacy API reads typing and read from it."""
    if event.kind is not EventKind.message or config.api != "legacy":
        return Answer(200)
    body: Dict[str, Any] = {"status": "ok"}
    if config.typing_seconds:
        body["typing"] = config.typing_seconds
    if config.mark_read:
        body["read"] = True
    return Answer(200, body)


def _log_status(event: InboundEvent) -> None:
    """An event that starts no turn (a failed send starts the delivery-failed one)."""
    if event.kind is EventKind.delivered:
        logger.debug("iMessage %s delivered", event.message_id)
    elif event.kind is EventKind.sender_updated:
        status = event.raw.get("status")  # as sent: any JSON value
        if isinstance(status, str) and status in _SENDER_DOWN:
            logger.warning("iMessage sender %s is now %s: sends from it fail until it is active "
                           "again (LoopMessage dashboard)", event.sender, status)  # fmt: skip
        else:
            logger.info("iMessage sender %s is now %s", event.sender, status)
    else:
        logger.info("iMessage event %s acknowledged (nothing to do)", event.event)
