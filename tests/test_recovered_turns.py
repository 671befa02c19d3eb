"""Webhooks taken over from a replica that stopped: each is run, handed on, or given up."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, List, Tuple

import pytest
from lm_standin import SEND_PATH, LoopMessageStandIn

pytest.importorskip("rasa.core.channels", reason="needs rasa: pip install 'rasa-imessage[rasa]'")

from channel_kit import inbound, make_app, send_webhook, served

from rasa_imessage.idempotency import Recovered

pytestmark = pytest.mark.rasa


@pytest.fixture
async def lm(lm: LoopMessageStandIn) -> LoopMessageStandIn:
    """The stand-in accepting every send and typing call."""
    return lm.accept_everything()


def _record_hand_overs(channel: Any, monkeypatch: pytest.MonkeyPatch) -> List[Tuple[str, str]]:
    """What the channel did with the store's claims: ("release" | "abandon", key)."""
    calls: List[Tuple[str, str]] = []
    store = channel.conversations.store
    for name in ("release", "abandon"):
        original = getattr(store, name)

        async def record(key: str, _name: str = name, _original: Any = original) -> None:
            calls.append((_name, key))
            await _original(key)

        monkeypatch.setattr(store, name, record)
    return calls


async def test_each_recovered_webhook_is_run_given_up_or_released(
    lm: LoopMessageStandIn, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app, channel, bot = make_app(lm=lm)
    taken_over = json.dumps(inbound("hello again", contact="+13235550101", webhook_id="W-1"))
    async with served(app):
        calls = _record_hand_overs(channel, monkeypatch)
        with caplog.at_level(logging.WARNING, logger="rasa_imessage"):
            await channel.conversations.recover(
                [
                    Recovered("W-0", None, 5),  # its turn never completed: given up
                    Recovered("W-1", taken_over, 2),
                    Recovered("W-2", "{not json", 2),  # unreadable: released, not lost silently
                ],
                lambda: True,
            )
            await channel.turns.join()
            await channel.conversations.stop_side_work()
    assert [m.text for m in bot.messages] == ["hello again"]
    assert bot.messages[0].sender_id == "+13235550101"
    # The reply alone: a webhook taken over was acked, and perhaps shown typing, long ago by
    # the replica that stopped, so its turn starts no indicator and sends no read receipt.
    assert [sent["contact"] for sent in lm.sends()] == ["+13235550101"]
    assert [call.path for call in lm.calls] == [SEND_PATH]
    assert calls == [("release", "W-2")]
    logged = caplog.text
    assert "W-0 given up" in logged and "5 attempts" in logged
    assert "W-1 taken over from a replica that stopped (attempt 2)" in logged
    assert "W-2 could not be recovered" in logged


async def test_a_server_not_taking_turns_hands_recovered_webhooks_on(
    lm: LoopMessageStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, channel, bot = make_app(lm=lm)
    body = json.dumps(inbound())
    async with served(app):
        calls = _record_hand_overs(channel, monkeypatch)
        await channel.conversations.recover([Recovered("W-1", body, 1)], lambda: False)
        await channel.turns.join()
    assert bot.messages == []
    assert calls[0] == ("abandon", "W-1")  # the in-memory store's abandon then releases
    assert {key for _, key in calls} == {"W-1"}


async def test_recovered_webhooks_beyond_the_queue_are_handed_on(
    lm: LoopMessageStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, channel, bot = make_app({"max_queued_turns": "1"}, lm=lm)
    bodies = [
        Recovered(f"W-{n}", json.dumps(inbound(contact=f"+1323555010{n}", webhook_id=f"W-{n}")), 1)
        for n in range(2)
    ]
    async with served(app):
        calls = _record_hand_overs(channel, monkeypatch)
        await channel.conversations.recover(bodies, lambda: True)
        await channel.turns.join()
    assert [m.sender_id for m in bot.messages] == ["+13235550100"]
    assert calls[0] == ("abandon", "W-1")  # the in-memory store's abandon then releases
    assert {key for _, key in calls} == {"W-1"}


async def test_a_replica_takes_webhooks_over_only_with_its_queue_less_than_half_full(
    lm: LoopMessageStandIn,
) -> None:
    """Taking over another replica's webhooks must not crowd out the webhooks this one
    acks: its lease keeper asks this before each take-over."""
    app, channel, bot = make_app({"max_queued_turns": "4"}, lm=lm)
    turns_may_end = asyncio.Event()

    async def handle(message: Any) -> None:
        bot.messages.append(message)
        await asyncio.wait_for(turns_may_end.wait(), 10)

    app.ctx.agent.handle_message.side_effect = handle
    async with served(app) as http:
        room = [channel._can_take_over()]
        for number in (1, 2):  # two conversations, so both turns are pending at once
            body = inbound(contact=f"+1323555010{number}", webhook_id=f"W-{number}")
            await send_webhook(http, body)
            room.append(channel._can_take_over())
        turns_may_end.set()
        await channel.turns.join()
        room.append(channel._can_take_over())
    assert room == [True, True, False, True]  # 0, 1, 2 and 0 of 4 places taken
