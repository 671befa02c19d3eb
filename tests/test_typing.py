"""The typing indicator is shown before the reply, never after it."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest

pytest.importorskip("rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'")
from channel_kit import (
    LEGACY,
    inbound,
    legacy_inbound,
    make_app,
    post,
    send_webhook,
    served,
)
from lm_standin import SEND_PATH, TYPING_PATH, Call, LoopMessageStandIn, Outcome, Reply

pytestmark = pytest.mark.rasa

GUARD = 10  # a guard against a hang when a test fails, never a wait a test relies on


async def test_the_first_reply_waits_for_a_slow_typing_call(lm: LoopMessageStandIn) -> None:
    app, channel, _ = make_app({"typing_seconds": "5", "typing_delay": "0"}, lm=lm)
    order: List[str] = []
    typing_arrived, typing_may_finish = asyncio.Event(), asyncio.Event()

    async def typing(call: Call) -> Outcome:
        typing_arrived.set()
        await asyncio.wait_for(typing_may_finish.wait(), GUARD)
        order.append("typing done")
        return Reply(200, json={})

    def send(call: Call) -> Outcome:
        order.append("send")
        return Reply(200, json={"message_id": "OUT"})

    typing_route = lm.post(TYPING_PATH).handle(typing)
    send_route = lm.post(SEND_PATH).handle(send)
    app.ctx.agent.handle_message.side_effect = _reply_after(typing_arrived, typing_may_finish)
    await post(app, inbound())
    await channel.turns.join()
    assert order == ["typing done", "send"]
    assert typing_route.call_count == 1 and send_route.call_count == 1
    assert lm.unrouted == []


def _reply_after(typing_arrived: asyncio.Event, typing_may_finish: asyncio.Event):  # type: ignore[no-untyped-def]
    async def handle(message):  # type: ignore[no-untyped-def]
        sending = asyncio.ensure_future(message.output_channel.send_response(
            message.sender_id, {"text": "hello"}))  # fmt: skip
        await asyncio.sleep(0)  # the send is now waiting on the typing call ...
        await asyncio.wait_for(typing_arrived.wait(), GUARD)  # ... which LoopMessage holds
        typing_may_finish.set()
        await sending

    return handle


# -- typing_delay: the indicator only for a reply that keeps the user waiting ----------------

DELAY = {"typing_seconds": "5", "typing_delay": "0.2"}


@pytest.fixture
async def routes(lm: LoopMessageStandIn) -> LoopMessageStandIn:
    lm.post(SEND_PATH).respond(200, json={"message_id": "OUT"})
    lm.post(TYPING_PATH).respond(200, json={})
    return lm


async def _settle(channel) -> None:  # type: ignore[no-untyped-def]
    """The turns, then what they left behind (a read receipt, a cancelled timer)."""
    await asyncio.wait_for(channel.turns.join(), GUARD)
    side = list(channel.conversations.side_tasks)
    if side:
        await asyncio.wait(side, timeout=GUARD)


async def test_a_reply_within_the_delay_goes_without_an_indicator_and_marks_read_alongside(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app(DELAY, lm=lm)
    read_may_finish = asyncio.Event()
    order: List[str] = []

    async def read(call: Call) -> Outcome:
        await asyncio.wait_for(read_may_finish.wait(), GUARD)  # LoopMessage holds it
        order.append("read done")
        return Reply(200, json={})

    def send(call: Call) -> Outcome:
        order.append("send")
        read_may_finish.set()
        return Reply(200, json={"message_id": "OUT"})

    read_route = lm.post(TYPING_PATH).handle(read)
    lm.post(SEND_PATH).handle(send)
    async with served(app) as http:
        await send_webhook(http, inbound())  # the stand-in bot answers at once
        await _settle(channel)
    assert order == ["send", "read done"]  # the reply did not wait for the read receipt
    assert read_route.call_count == 1
    assert read_route.calls[0].json == {"message_id": "M-1", "read": True}  # no indicator
    assert bot.messages[0].text == "hi"


async def test_without_mark_read_a_reply_within_the_delay_makes_no_typing_call(
    routes: LoopMessageStandIn,
) -> None:
    app, channel, _ = make_app({**DELAY, "mark_read": "false"}, lm=routes)
    async with served(app) as http:
        await send_webhook(http, inbound())
        await _settle(channel)
    assert [call.path for call in routes.calls] == [SEND_PATH]


async def test_a_silent_turn_marks_read_without_an_indicator(routes: LoopMessageStandIn) -> None:
    app, channel, bot = make_app(DELAY, lm=routes)
    bot.reply = []  # the bot says nothing
    async with served(app) as http:
        await send_webhook(http, inbound())
        await _settle(channel)
    (call,) = routes.calls
    assert call.path == TYPING_PATH and call.json == {"message_id": "M-1", "read": True}


@pytest.mark.parametrize("mark_read", [True, False])
async def test_a_slow_reply_shows_the_indicator_first(
    routes: LoopMessageStandIn, mark_read: bool
) -> None:
    """With read receipts off the indicator still shows, without marking the chat read."""
    app, channel, _ = make_app({**DELAY, "mark_read": str(mark_read).lower()}, lm=routes)
    typing_route = routes.post(TYPING_PATH)

    async def handle(message):  # type: ignore[no-untyped-def]
        async def typing_shown() -> None:
            while not typing_route.called:  # the bot works until the indicator is up
                await asyncio.sleep(0.01)

        await asyncio.wait_for(typing_shown(), GUARD)
        await message.output_channel.send_response(message.sender_id, {"text": "done"})

    app.ctx.agent.handle_message.side_effect = handle
    async with served(app) as http:
        await send_webhook(http, inbound())
        await _settle(channel)
    assert [call.path for call in routes.calls] == [TYPING_PATH, SEND_PATH]
    assert routes.calls[0].json == {"message_id": "M-1", "read": mark_read, "typing": 5}


async def test_a_turn_slower_than_the_indicator_has_it_shown_again_until_the_reply(
    routes: LoopMessageStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A custom action calling a slow API: the indicator never runs out while the bot works
    (renewed every 50 ms here instead of a second before `typing_seconds` end)."""
    from rasa_imessage import indicator

    monkeypatch.setattr(indicator, "RENEW_EARLY", 0.95)
    monkeypatch.setattr(indicator, "RENEW_EVERY_AT_LEAST", 0.05)
    app, channel, _ = make_app({"typing_seconds": "1", "typing_delay": "0"}, lm=routes)
    typing_route = routes.post(TYPING_PATH)

    async def handle(message):  # type: ignore[no-untyped-def]
        while typing_route.call_count < 3:  # the bot works through two renewals
            await asyncio.sleep(0.01)
        await message.output_channel.send_response(message.sender_id, {"text": "done"})

    app.ctx.agent.handle_message.side_effect = handle
    async with served(app) as http:
        await send_webhook(http, inbound())
        await asyncio.wait_for(_settle(channel), GUARD)
        await asyncio.sleep(0.2)  # four renewal periods after the reply
    paths = [call.path for call in routes.calls]
    assert paths[-1] == SEND_PATH and paths.count(SEND_PATH) == 1  # none after the reply
    bodies = [call.json for call in typing_route.calls]
    assert bodies[0] == {"message_id": "M-1", "read": True, "typing": 1}
    assert bodies[1:] and all(body == bodies[0] for body in bodies[1:])


async def test_a_group_message_the_bot_does_not_answer_shows_no_indicator(
    routes: LoopMessageStandIn,
) -> None:
    """`group_reply: mention`: a message not for the bot starts no turn, so nothing may say
    the bot is typing (it was shown after `typing_delay`, and renewed, before the fix)."""
    app, channel, bot = make_app({"typing_seconds": "5", "typing_delay": "0.05",
                                  "group_reply": "mention", "bot_names": "Rasa"},
                                 lm=routes)  # fmt: skip
    group = {"id": "G-1", "participants": ["+13231112233", "+13233332211"]}
    async with served(app) as http:
        await send_webhook(http, inbound("dinner at 8?", group=group))
        await _settle(channel)
        await asyncio.sleep(0.2)  # four delays
    assert not bot.messages
    assert [call.json for call in routes.post(TYPING_PATH).calls] == [
        {"message_id": "M-1", "read": True}]  # fmt: skip


TAPBACK = inbound("", event="message_reaction", message_type="reaction", reaction="like")
FAILED_SEND = {"event": "message_failed", "message_id": "OUT-1", "webhook_id": "W-1",
               "contact": "+13231112233", "error_code": 100}  # fmt: skip
NO_MESSAGE_ID = {key: value for key, value in inbound().items() if key != "message_id"}


@pytest.mark.parametrize(
    ("settings", "body"),
    [
        pytest.param({}, TAPBACK, id="tapback"),
        pytest.param({}, FAILED_SEND, id="failed-send"),
        pytest.param({}, NO_MESSAGE_ID, id="message-without-id"),
        pytest.param(LEGACY, legacy_inbound(), id="legacy-message"),
    ],
)
async def test_only_a_current_api_message_gets_a_typing_call(
    routes: LoopMessageStandIn, settings: Dict[str, Any], body: Dict[str, Any]
) -> None:
    """A tapback or a failed send is not a message the user waits on, a message without an
    id has nothing to show typing for, and the legacy API shows typing through the webhook's
    200 body: none of them arms an indicator, so no call is made, refused or counted."""
    from rasa_imessage.metrics import TYPING_CALLS

    options = {"typing_seconds": "5", "typing_delay": "0", "mark_read": "true", **settings}
    app, channel, bot = make_app(options, lm=routes)
    async with served(app) as http:
        await send_webhook(http, body)
        await _settle(channel)
    assert bot.messages  # the turn ran ...
    assert not routes.post(TYPING_PATH).called  # ... with no indicator nor read receipt
    counted = {label: channel.metrics.value(TYPING_CALLS, label) for label in
               ("ok", "failed", "paused")}  # fmt: skip
    assert counted == {"ok": 0, "failed": 0, "paused": 0}
