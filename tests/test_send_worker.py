"""`send_worker: true`: the channel inside Rasa's app, its LoopMessage calls made by a child."""

from __future__ import annotations

import asyncio
import logging

import pytest
from channel_kit import inbound, make_app, send_webhook, served
from lm_standin import SEND_PATH, TYPING_PATH, LoopMessageStandIn
from servers import process_alive

from rasa_imessage.loopmessage import LoopMessageClient, WorkerClient


async def test_replies_and_typing_go_through_the_child_which_stops_with_the_server(
    lm: LoopMessageStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A response's bubbles go to the child in one frame, which sends them in order."""
    app, channel, bot = make_app({"send_worker": "true"}, lm=lm)
    bot.reply = [{"text": "first\n\nsecond"}]
    send = lm.post(SEND_PATH).respond(200, json={"success": True, "message_id": "S-1"})
    typing = lm.post(TYPING_PATH).respond(200)
    async with served(app) as http:
        client = channel.client()
        assert isinstance(client, WorkerClient)
        pid = client.pid  # started with the server, before any webhook
        assert pid is not None and process_alive(pid)
        frames = []
        send_messages = client.send_messages

        async def recording(requests):  # type: ignore[no-untyped-def]
            frames.append(len(requests))
            return await send_messages(requests)

        monkeypatch.setattr(client, "send_messages", recording)
        assert (await send_webhook(http, inbound())).status_code == 200
        await channel.turns.join()
        # The read receipt goes alongside the reply, on a side task of its own.
        await asyncio.gather(*channel.conversations.side_tasks)
        assert [body["text"] for body in lm.sends()] == ["first", "second"]
        assert frames == [2]
        assert typing.call_count == 1 and send.call_count == 2
        assert lm.post(TYPING_PATH).calls[0].json["message_id"] == "M-1"
    assert not process_alive(pid)


async def test_send_failures_come_back_from_the_child_as_the_delivery_failed_intent(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app({"send_worker": "true", "max_retries": "0"}, lm=lm)
    lm.refuse_sends()
    async with served(app) as http:
        await send_webhook(http, inbound())
        await channel.turns.join()
    texts = [message.text for message in bot.messages]
    assert texts[0] == "hi"
    assert texts[1].startswith('/imessage_delivery_failed{"error_code":520')
    assert len(texts) == 2


@pytest.mark.parametrize(
    ("cores", "expected"), [(1.0, LoopMessageClient), (1.5, LoopMessageClient), (2.0, WorkerClient)]
)
def test_auto_uses_a_child_when_two_cores_are_usable(monkeypatch, caplog, cores, expected) -> None:
    monkeypatch.setattr("rasa_imessage.channel.usable_cores", lambda: cores)
    _, channel, _ = make_app({"send_worker": "auto"})
    with caplog.at_level(logging.INFO, logger="rasa_imessage"):
        assert type(channel.client()) is expected
    where = "by a child process" if expected is WorkerClient else "by this process"
    assert f"{cores:.3g} cores usable, so LoopMessage calls are made {where}" in caplog.text


def test_the_default_makes_the_calls_in_process(monkeypatch) -> None:
    monkeypatch.setattr("rasa_imessage.channel.usable_cores", lambda: 8.0)
    _, channel, _ = make_app()
    assert type(channel.client()) is LoopMessageClient


@pytest.mark.parametrize(
    ("setting", "expected"), [("true", WorkerClient), ("false", LoopMessageClient)]
)
def test_true_and_false_decide_whatever_the_cores(monkeypatch, setting, expected) -> None:
    monkeypatch.setattr(
        "rasa_imessage.channel.usable_cores", lambda: 1.0 if setting == "true" else 8.0
    )
    _, channel, _ = make_app({"send_worker": setting})
    assert type(channel.client()) is expected
