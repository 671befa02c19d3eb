"""The typing indicator is shown before the reply, never after it."""

from __future__ import annotations

import asyncio
from typing import List

import pytest

pytest.importorskip("rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'")
from channel_kit import SEND_PATH, TYPING_PATH, inbound, make_app, post
from lm_standin import Call, LoopMessageStandIn, Outcome, Reply

pytestmark = pytest.mark.rasa

GUARD = 10  # a guard against a hang when a test fails, never a wait a test relies on


async def test_the_first_reply_waits_for_a_slow_typing_call(lm: LoopMessageStandIn) -> None:
    app, channel, _ = make_app({"typing_seconds": "5"}, lm=lm)
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
