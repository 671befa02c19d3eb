"""The answer to a webhook when the dedupe store fails after the claim (intake.py).

A turn refused after its claim (too many turns waiting) has that claim released, so that
LoopMessage's retry can run it. If the store fails just then, the webhook must still get
its 503, not a 500 from the exception: the claim, body included, stays in the store, where
its lease runs out and a replica takes the turn over.
"""

from __future__ import annotations

import json
import logging
from typing import Any, List, Optional

import pytest

from rasa_imessage.auth import WebhookAuth
from rasa_imessage.config import load_config
from rasa_imessage.idempotency import Claim, MemoryStore, StoreUnavailable
from rasa_imessage.intake import Answer, HandOver, answer_webhook, error
from rasa_imessage.loopmessage import InboundEvent

SECRET = "intake-secret"
BODY = json.dumps(
    {
        "event": "message_inbound",
        "contact": "+13231112233",
        "text": "hi",
        "message_type": "text",
        "message_id": "m-1",
        "webhook_id": "w-1",
    }
).encode()


class _ReleaseFails(MemoryStore):
    """Claims as the in-memory store does; its release fails as a shared store gone away does
    (RedisStore's own test: tests/test_idempotency.py)."""

    def __init__(self) -> None:
        super().__init__()
        self.released: List[str] = []

    async def release(self, key: str) -> None:
        self.released.append(key)
        raise StoreUnavailable("redis call failed: ConnectionError")


async def _refuse(event: InboundEvent, key: Optional[str], body: bytes) -> Optional[Answer]:
    return error(503, "too many turns waiting; LoopMessage will retry", "busy")


async def _accept(event: InboundEvent, key: Optional[str], body: bytes) -> Optional[Answer]:
    return None


async def _answer(
    store: MemoryStore, hand_over: HandOver = _refuse, body: bytes = BODY, **settings: Any
) -> Answer:
    return await answer_webhook(
        load_config({"api_key": "k", "webhook_auth": SECRET, **settings}),
        WebhookAuth(SECRET),
        SECRET,
        body,
        ready=lambda: True,
        stopping=lambda: False,
        store=store,
        hand_over=hand_over,
    )


async def test_a_refused_turn_whose_claim_cannot_be_released_still_gets_its_503(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = _ReleaseFails()
    with caplog.at_level(logging.ERROR, logger="rasa_imessage.channel"):
        answer = await _answer(store)
    assert answer.status == 503
    assert "LoopMessage will retry" in answer.body["error"]
    assert store.released == ["w-1"]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert "w-1" in failures[0].getMessage() and "ConnectionError" in failures[0].getMessage()


async def test_a_refused_turn_releases_its_claim_for_the_retry() -> None:
    store = MemoryStore()
    first = await _answer(store)
    assert first.status == 503
    assert await store.claim("w-1") is Claim.NEW  # released: the retry may run it


@pytest.mark.parametrize(("status", "level"), [("suspended", logging.WARNING),
                                              ("canceled", logging.WARNING),
                                              ("active", logging.INFO),
                                              (["suspended"], logging.INFO),  # once a 500
                                              (None, logging.INFO)])  # fmt: skip
async def test_a_sender_that_stops_sending_is_a_warning(
    status: Any, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps({"event": "sender_name_updated", "organization_id": "o", "sender": "S-2",
                       "status": status, "webhook_id": "w-s"}).encode()  # fmt: skip
    with caplog.at_level(logging.INFO, logger="rasa_imessage.channel"):
        answer = await _answer(MemoryStore(), body=body)
    assert (answer.status, answer.outcome) == (200, "status")
    (record,) = [r for r in caplog.records if "S-2" in r.getMessage()]
    assert record.levelno == level and f"is now {status}" in record.getMessage()


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (1, 413)])
async def test_a_body_of_max_body_bytes_is_taken_and_one_byte_more_is_not(
    extra: int, status: int
) -> None:
    padded = json.loads(BODY)
    padded["text"] += " " * (1024 - len(BODY) + extra)  # the text's spaces count as bytes
    body = json.dumps(padded).encode()
    assert len(body) == 1024 + extra
    answer = await _answer(MemoryStore(), _accept, body, max_body_bytes=1024)
    assert answer.status == status


async def test_a_webhook_being_handled_gets_409_and_one_handled_gets_duplicate() -> None:
    """LoopMessage retries a 409 later; a duplicate's 200 ends its retries."""
    store = MemoryStore()
    assert await store.claim("w-1") is Claim.NEW  # another request has it in hand
    answer = await _answer(store, _accept)
    assert (answer.status, answer.outcome) == (409, "in_progress")
    await store.complete("w-1")
    answer = await _answer(store, _accept)
    assert (answer.status, answer.body) == (200, {"status": "duplicate"})
