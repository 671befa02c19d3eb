"""The typing indicator is shown before the reply, never after it."""

from __future__ import annotations

import asyncio
from typing import List

import httpx
import pytest
import respx

pytest.importorskip("rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'")
from channel_kit import API, inbound, make_app, post

pytestmark = pytest.mark.rasa


async def test_the_first_reply_waits_for_a_slow_typing_call() -> None:
    app, channel, _ = make_app({"typing_seconds": "5"})
    order: List[str] = []
    typing_may_finish = asyncio.Event()

    async def typing(request: httpx.Request) -> httpx.Response:
        await typing_may_finish.wait()
        order.append("typing done")
        return httpx.Response(200, json={})

    def send(request: httpx.Request) -> httpx.Response:
        order.append("send")
        return httpx.Response(200, json={"message_id": "OUT"})

    with respx.mock() as router:
        router.post(f"{API}/api/v1/message/show-typing/").mock(side_effect=typing)
        router.post(f"{API}/api/v1/message/send/").mock(side_effect=send)
        app.ctx.agent.handle_message.side_effect = _reply_after(typing_may_finish)
        await post(app, inbound())
        await channel.turns.join()
    assert order == ["typing done", "send"]


def _reply_after(typing_may_finish: asyncio.Event):  # type: ignore[no-untyped-def]
    async def handle(message):  # type: ignore[no-untyped-def]
        sending = asyncio.ensure_future(message.output_channel.send_response(
            message.sender_id, {"text": "hello"}))  # fmt: skip
        await asyncio.sleep(0)  # the send is now waiting on the typing call
        typing_may_finish.set()
        await sending

    return handle
