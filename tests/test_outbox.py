"""Replies sent by the conversation's outbox while Rasa's turn goes on (outbox.py).

First the outbox alone, then through the channel: Rasa's turn is not held by LoopMessage,
yet a conversation's replies keep their order (reminders' and `trigger_intent`'s included),
its next turn starts only once they are sent, and with a shared store they go out inside
Rasa's turn as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Coroutine, List, Tuple

import pytest
from channel_kit import QUIET, inbound, make_app, send_webhook, served
from lm_standin import SEND_PATH, Call, LoopMessageStandIn, Reply, Stall

from rasa_imessage import lending
from rasa_imessage.idempotency import MemoryStore
from rasa_imessage.lending import Gate, Slot, _current_slot
from rasa_imessage.outbox import Outbox


def _spawn(coroutine: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
    return asyncio.ensure_future(coroutine)


def _log() -> List[str]:
    return []


def _recording(log: List[str], name: str, seconds: float = 0.0) -> Any:
    async def send() -> None:
        log.append(f"start {name}")
        await asyncio.sleep(seconds)
        log.append(f"end {name}")

    return send


# -- the outbox alone -------------------------------------------------------------------------


async def test_a_conversations_responses_go_one_at_a_time_in_the_order_queued() -> None:
    outbox, log = Outbox(_spawn), _log()
    outbox.put("+1", _recording(log, "a", 0.02))
    outbox.put("+1", _recording(log, "b"))
    outbox.put("+1", _recording(log, "c", 0.01))
    await outbox.sent("+1")
    assert log == ["start a", "end a", "start b", "end b", "start c", "end c"]
    assert outbox.conversations == []  # nothing kept once sent


async def test_conversations_do_not_wait_for_each_other() -> None:
    outbox, log = Outbox(_spawn), _log()
    outbox.put("+1", _recording(log, "slow", 0.05))
    outbox.put("+2", _recording(log, "quick"))
    await outbox.sent("+2")
    assert log == ["start slow", "start quick", "end quick"]
    await outbox.sent("+1")
    assert log[-1] == "end slow"


async def test_sent_returns_at_once_for_a_conversation_with_nothing_queued() -> None:
    await asyncio.wait_for(Outbox(_spawn).sent("+1"), 0.5)


async def test_a_send_that_raises_is_logged_and_the_next_ones_still_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox, log = Outbox(_spawn), _log()

    async def broken() -> None:
        raise RuntimeError("a bug")

    outbox.put("+13231112233", broken)
    outbox.put("+13231112233", _recording(log, "next"))
    await outbox.sent("+13231112233")
    assert log == ["start next", "end next"]
    assert "iMessage reply to +1•••2233 not sent" in caplog.text
    assert "13231112233" not in caplog.text  # the contact stays masked


async def test_a_response_queued_as_the_last_send_ends_is_still_sent() -> None:
    """The sender forgets its queue in the same step as it finds it empty. A response queued
    just after, before the sender's task has run its done callbacks, starts a sender of its
    own instead of joining a queue nobody sends any more."""
    outbox, log = Outbox(_spawn), _log()
    loop = asyncio.get_running_loop()

    async def last() -> None:
        log.append("a")
        # Runs once this step has ended the sender, before the task's done callbacks.
        loop.call_soon(outbox.put, "+1", _recording(log, "b"))

    outbox.put("+1", last)
    (sender,) = outbox._senders.values()
    await asyncio.wait({sender})
    await asyncio.sleep(0)  # the done callbacks
    await outbox.sent("+1")
    assert log == ["a", "start b", "end b"]


async def test_a_sender_cancelled_before_its_first_step_leaves_no_dead_queue(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox, log = Outbox(_spawn), _log()
    outbox.put("+13231112233", _recording(log, "a"))
    outbox.put("+13231112233", _recording(log, "b"))
    (sender,) = outbox._senders.values()
    sender.cancel()
    await asyncio.wait({sender})
    await asyncio.sleep(0)  # the done callback
    assert outbox.conversations == []
    assert "2 response(s) to +1•••2233 not sent: cancelled at shutdown" in caplog.text
    outbox.put("+13231112233", _recording(log, "c"))  # a new sender takes it
    await outbox.sent("+13231112233")
    assert log == ["start c", "end c"]


async def test_cancelling_a_wait_for_the_sends_leaves_them_running() -> None:
    outbox, log = Outbox(_spawn), _log()
    outbox.put("+1", _recording(log, "a", 0.05))
    waiter = asyncio.ensure_future(outbox.sent("+1"))
    await asyncio.sleep(0.01)
    waiter.cancel()
    await asyncio.wait({waiter})
    await outbox.sent("+1")
    assert log == ["start a", "end a"]


async def test_wait_all_gives_the_sends_their_time_then_counts_what_is_left() -> None:
    outbox, log = Outbox(_spawn), _log()
    outbox.put("+1", _recording(log, "quick", 0.01))
    outbox.put("+2", _recording(log, "stuck", 5))
    assert await outbox.wait_all(0.2) == 1
    assert "end quick" in log and "end stuck" not in log
    for sender in outbox._senders.values():
        sender.cancel()
    assert await Outbox(_spawn).wait_all(0.2) == 0


async def test_a_sender_started_inside_a_turn_never_lends_the_turns_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its waits would otherwise lend a place the turn is still computing in; they still
    tell the gate how LoopMessage answered, since the turn's replies are sent only there."""
    monkeypatch.setattr(lending, "HEALTHY_WAIT", 0.01)  # the sender's wait below is too slow
    outbox = Outbox(_spawn)
    gate = Gate(1)
    gate.lending = True
    held_during_send: List[bool] = []

    async def send() -> None:
        assert _current_slot.get() is not turn
        async with lending.network_wait():
            held_during_send.append(turn.held)
            await asyncio.sleep(0.05)

    async with Slot(gate) as turn:
        outbox.put("+1", send)
        await outbox.sent("+1")
        assert _current_slot.get() is turn  # the turn's own context is untouched
    assert held_during_send == [True]  # not lent
    assert gate.lending is False  # but judged: LoopMessage took longer than HEALTHY_WAIT


# -- through the channel ----------------------------------------------------------------------


def _recorded_turns(bot: Any, log: List[str]) -> None:
    """The stand-in agent logs when Rasa's turn starts and when it has returned."""
    answer = bot.agent.handle_message.side_effect

    async def handle(message: Any) -> None:
        log.append(f"turn {message.text}")
        await answer(message)
        log.append(f"turn {message.text} returned")

    bot.agent.handle_message.side_effect = handle


def _slow_sends(lm: LoopMessageStandIn, log: List[str], seconds: float) -> None:
    async def answer(call: Call) -> Reply:
        await asyncio.sleep(seconds)
        log.append(f"sent {call.json['text']}")
        return Reply(200, json={"message_id": f"OUT-{len(log)}", "contact": call.json["contact"]})

    lm.post(SEND_PATH).handle(answer)


async def _two_turns(lm: LoopMessageStandIn, **channel_options: Any) -> List[str]:
    app, channel, bot = make_app(QUIET, lm=lm, **channel_options)
    bot.reply = [{"text": "one"}, {"text": "two"}]
    log: List[str] = []
    _recorded_turns(bot, log)
    _slow_sends(lm, log, 0.05)
    async with served(app) as http:
        for number in (1, 2):
            body = inbound(f"hi{number}", message_id=f"M-{number}", webhook_id=f"W-{number}")
            assert (await send_webhook(http, body)).status_code == 200
        await channel.turns.join()
    return log


async def test_rasas_turn_returns_before_loopmessage_answers_and_the_next_waits_for_the_replies(
    lm: LoopMessageStandIn,
) -> None:
    log = await _two_turns(lm)
    assert log == [
        "turn hi1", "turn hi1 returned", "sent one", "sent two",
        "turn hi2", "turn hi2 returned", "sent one", "sent two",
    ]  # fmt: skip


async def test_with_a_shared_store_replies_go_out_inside_rasas_turn(
    lm: LoopMessageStandIn,
) -> None:
    """Across replicas only Rasa's lock keeps a conversation's turns apart."""

    class SharedStore(MemoryStore):
        shared = True

    log = await _two_turns(lm, store=SharedStore())
    assert log == [
        "turn hi1", "sent one", "sent two", "turn hi1 returned",
        "turn hi2", "sent one", "sent two", "turn hi2 returned",
    ]  # fmt: skip


async def test_a_custom_action_starts_while_the_bubble_before_it_is_on_its_way(
    lm: LoopMessageStandIn,
) -> None:
    """Rasa's turn answers, then calls the action server: that call does not wait for
    LoopMessage to answer the bubble."""
    app, channel, bot = make_app(QUIET, lm=lm)
    action_started = asyncio.Event()
    log: List[str] = []

    async def answer(call: Call) -> Reply:
        with contextlib.suppress(asyncio.TimeoutError):  # old behaviour: never started
            await asyncio.wait_for(action_started.wait(), 2)
        log.append("bubble answered")
        return Reply(200, json={"message_id": "OUT-1"})

    lm.post(SEND_PATH).handle(answer)

    async def turn(message: Any) -> None:
        await message.output_channel.send_response(message.sender_id, {"text": "one moment"})
        log.append("action started")  # the custom action: a wait on another server
        action_started.set()
        await asyncio.sleep(0.01)

    bot.agent.handle_message.side_effect = turn
    async with served(app) as http:
        assert (await send_webhook(http, inbound())).status_code == 200
        await channel.turns.join()
    assert log == ["action started", "bubble answered"]


async def test_a_webhook_is_done_only_once_its_replies_are_sent(lm: LoopMessageStandIn) -> None:
    """Done is what lets the webhook's claim go; a retry before that is still a duplicate."""
    app, channel, bot = make_app(QUIET, lm=lm)
    lm.post(SEND_PATH).queue(Stall(0.3, Reply(200, json={"message_id": "OUT-1"})))
    async with served(app) as http:
        assert (await send_webhook(http, inbound())).status_code == 200
        await asyncio.sleep(0.1)
        assert len(bot.messages) == 1 and len(lm.sends()) == 1  # Rasa done, reply on its way
        assert channel.turns.pending == 1
        assert (await send_webhook(http, inbound())).status_code == 409  # still being handled
        await channel.turns.join()
        assert (await send_webhook(http, inbound())).status_code == 200  # a duplicate now
        await channel.turns.join()
    assert len(bot.messages) == 1 and len(lm.sends()) == 1


async def test_a_reminder_sent_while_a_turns_replies_are_on_their_way_comes_after_them(
    lm: LoopMessageStandIn,
) -> None:
    """Rasa's lock is free once its turn returned; the outbox still keeps the order."""
    app, channel, bot = make_app(QUIET, lm=lm)
    bot.reply = [{"text": "one"}, {"text": "two"}]
    log: List[str] = []
    _slow_sends(lm, log, 0.05)
    async with served(app) as http:
        assert (await send_webhook(http, inbound())).status_code == 200
        while not bot.messages:
            await asyncio.sleep(0.005)
        reminder = channel.get_output_channel()  # what trigger_intent and reminders use
        await reminder.send_text_message("+13231112233", "reminder")
        assert "sent two" not in log  # it came while the turn's replies were on their way
        await channel.turns.join()
        await reminder.sent()
    assert log == ["sent one", "sent two", "sent reminder"]


async def test_shutdown_lets_replies_queued_outside_a_turn_go_out(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, _ = make_app(QUIET, lm=lm)
    log: List[str] = []
    _slow_sends(lm, log, 0.2)
    async with served(app):
        await channel.get_output_channel().send_text_message("+13231112233", "goodbye")
    assert log == ["sent goodbye"]


def _texts(sends: List[Any]) -> Tuple[str, ...]:
    return tuple(sent["text"] for sent in sends)


async def test_a_failed_reply_stops_its_response_and_reaches_the_bot_after_the_turn(
    lm: LoopMessageStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    app, channel, bot = make_app(QUIET, lm=lm)
    bot.reply = [{"text": "one\n\ntwo"}, {"text": "three"}]
    lm.post(SEND_PATH).queue(Reply(400, json={"success": False, "code": 1110}))
    lm.post(SEND_PATH).respond(200, json={"message_id": "OUT-1"})
    async with served(app) as http:
        assert (await send_webhook(http, inbound())).status_code == 200
        await channel.turns.join()
    texts = [message.text for message in bot.messages]
    assert texts[0] == "hi" and texts[1].startswith("/imessage_delivery_failed")
    # "two" belonged to the failed response; "three" is a response of its own
    assert _texts(lm.sends())[:2] == ("one", "three")


async def test_a_reminder_that_fails_for_good_reaches_the_bot_too(lm: LoopMessageStandIn) -> None:
    """A send from `trigger_intent` or a reminder has no turn of its own, yet its failure is
    the bot's to hear, as a reply's is."""
    app, channel, bot = make_app(QUIET, lm=lm)
    lm.post(SEND_PATH).queue(Reply(400, json={"success": False, "code": 1110}))
    lm.post(SEND_PATH).respond(200, json={"message_id": "OUT-1"})
    async with served(app):
        reminder = channel.get_output_channel()
        await reminder.send_text_message("+13231112233", "your table is ready")
        await reminder.sent()
        await channel.turns.join()
    (failure,) = bot.messages
    assert failure.sender_id == "+13231112233"
    assert failure.text.startswith("/imessage_delivery_failed") and "1110" in failure.text


async def test_a_turn_cancelled_at_shutdown_after_rasa_returned_is_done_not_run_again(
    lm: LoopMessageStandIn,
) -> None:
    """Rasa has saved the turn and the outbox sends its reply: a redelivery of the webhook
    must not run the turn, and send the reply, a second time."""
    app, channel, bot = make_app({**QUIET, "shutdown_timeout": "0.3"}, lm=lm)
    lm.post(SEND_PATH).queue(Stall(0.45, Reply(200, json={"message_id": "OUT-1"})))
    lm.post(SEND_PATH).respond(200, json={"message_id": "OUT-2"})
    async with served(app) as http:
        assert (await send_webhook(http, inbound())).status_code == 200
        while not bot.messages:
            await asyncio.sleep(0.005)
    # The drain cancelled the turn while its reply was on its way; the outbox then sent it.
    assert len(lm.sends()) == 1 and channel.turns.pending == 0
    async with served(app) as http:
        again = await send_webhook(http, inbound())
        await channel.turns.join()
    assert again.json()["status"] == "duplicate"
    assert len(bot.messages) == 1 and len(lm.sends()) == 1
