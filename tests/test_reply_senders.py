"""Replies go from the sender the contact wrote to (reply_senders.py), through Rasa's own
app (`configure_app`) with a stand-in agent and the LoopMessage stand-in."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Dict, List

import pytest
from lm_standin import LoopMessageStandIn

from rasa_imessage.reply_senders import ReplySenders, sender_in_events

SENDER_B = "b7c27d2e-1251-488f-bf10-267945199555"


async def test_the_conversation_that_wrote_least_recently_is_forgotten_first() -> None:
    senders = ReplySenders(max_conversations=2)
    senders.remember("+1", "S-1")
    senders.remember("+2", "S-2")
    senders.remember("+1", "S-3")  # written to again: the most recent now
    senders.remember("+4", "S-4")
    known = [await senders.known(conversation) for conversation in ("+1", "+2", "+4")]
    assert known == ["S-3", None, "S-4"]
    assert len(senders) == 2


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ReplySenders(max_conversations=0)


def user(sender: Any = None) -> Any:
    return SimpleNamespace(type_name="user", metadata={"sender": sender} if sender else {})


def test_the_tracker_names_the_sender_of_the_last_user_message_that_had_one() -> None:
    bot = SimpleNamespace(type_name="bot", metadata={"sender": "S-BOT"})
    assert sender_in_events([user("S-1"), user("S-2"), user(), bot]) == "S-2"
    assert sender_in_events([bot, user(), user(42)]) is None


rasa_run = pytest.importorskip(
    "rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'"
)
from channel_kit import (  # noqa: E402
    LEGACY,
    QUIET,
    inbound,
    legacy_inbound,
    make_app,
    send_webhook,
    served,
)

pytestmark = pytest.mark.rasa


async def answered(app: Any, channel: Any, *bodies: Dict[str, Any]) -> None:
    async with served(app) as http:
        for body in bodies:
            await send_webhook(http, body)
            await channel.turns.join()
        await channel.conversations.stop_side_work()


def senders_of(lm: LoopMessageStandIn) -> List[Any]:
    return [sent.get("sender") for sent in lm.sends()]


async def test_replies_go_from_the_sender_the_contact_wrote_to(lm: LoopMessageStandIn) -> None:
    app, channel, _ = make_app({**QUIET, "sender": "S-CONFIGURED"}, lm=lm.accept_everything())
    await answered(app, channel, inbound("hi", sender=SENDER_B))
    assert senders_of(lm) == [SENDER_B]


async def test_a_webhook_naming_no_sender_leaves_the_configured_one(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, _ = make_app({**QUIET, "sender": "S-CONFIGURED"}, lm=lm.accept_everything())
    await answered(app, channel, inbound("hi"))
    assert senders_of(lm) == ["S-CONFIGURED"]


async def test_a_push_later_goes_from_the_sender_the_conversation_wrote_to(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, _ = make_app(QUIET, lm=lm.accept_everything())
    await answered(app, channel, inbound("hi", sender=SENDER_B))
    output = channel.get_output_channel()  # trigger_intent and reminders
    try:
        await output.send_response("+13231112233", {"text": "your table is ready"})
        await output.send_response("+13230000000", {"text": "a contact never seen"})
        await output.sent()
    finally:
        await channel.client().aclose()
    assert senders_of(lm) == [SENDER_B, SENDER_B, None]  # None: LoopMessage picks


async def test_the_answer_to_a_failed_delivery_goes_from_the_sender_written_to(
    lm: LoopMessageStandIn,
) -> None:
    """The delivery-failed turn of a send LoopMessage could not deliver (its webhook names the
    sender): the bot's answer goes from that sender too."""
    app, channel, _ = make_app({**QUIET, "sender": "S-CONFIGURED"}, lm=lm.accept_everything())
    failed = {"event": "message_failed", "contact": "+13231112233", "message_id": "OUT-1",
              "webhook_id": "W-F", "error_code": 100, "sender": SENDER_B}  # fmt: skip
    await answered(app, channel, failed)
    assert senders_of(lm) == [SENDER_B]


async def test_a_custom_payloads_own_sender_wins(lm: LoopMessageStandIn) -> None:
    app, channel, bot = make_app(QUIET, lm=lm.accept_everything())
    bot.reply = [{"text": "hello"}, {"custom": {"text": "from C", "sender": "S-C"}}]
    await answered(app, channel, inbound("hi", sender=SENDER_B))
    assert senders_of(lm) == [SENDER_B, "S-C"]


async def test_a_group_is_answered_from_the_sender_it_wrote_to(lm: LoopMessageStandIn) -> None:
    app, channel, _ = make_app(QUIET, lm=lm.accept_everything())
    group = {"id": "G-1", "participants": ["+13231112233", "+13234445566"]}
    await answered(app, channel, inbound("hi", group=group, sender=SENDER_B))
    (sent,) = lm.sends()
    assert (sent["group"], sent["sender"]) == ("G-1", SENDER_B)


async def test_the_legacy_api_keeps_its_configured_sender_name(lm: LoopMessageStandIn) -> None:
    legacy = {**LEGACY, "sender_name": "brand@imsg.co", **QUIET}
    app, channel, _ = make_app(legacy, lm=lm.accept_everything())
    await answered(app, channel, legacy_inbound(sender_name="other@imsg.co"))
    assert [sent["sender_name"] for sent in lm.sends()] == ["brand@imsg.co"]


async def pushes(app: Any, channel: Any, count: int) -> None:
    """`count` pushes to one contact while the server runs (trigger_intent, reminders)."""
    async with served(app):
        for _ in range(count):
            output = channel.get_output_channel()
            await output.send_response("+13231112233", {"text": "your table is ready"})
            await output.sent()


async def test_a_push_to_a_conversation_not_seen_here_reads_its_sender_from_the_tracker(
    lm: LoopMessageStandIn,
) -> None:
    """After a restart, or for another replica's conversation: the tracker's last user
    message says which sender the contact writes to; it is read once."""
    app, channel, bot = make_app(QUIET, lm=lm.accept_everything())
    bot.tracker_events.extend([user("S-OLD"), user(SENDER_B)])
    await pushes(app, channel, 2)
    assert senders_of(lm) == [SENDER_B, SENDER_B]
    assert bot.agent.tracker_store.retrieve.await_count == 1


async def test_a_failing_tracker_store_leaves_the_push_to_the_configured_sender(
    lm: LoopMessageStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    app, channel, bot = make_app({**QUIET, "sender": "S-CONFIGURED"}, lm=lm.accept_everything())
    bot.agent.tracker_store.retrieve.side_effect = ConnectionError("tracker store down")
    await pushes(app, channel, 1)
    assert senders_of(lm) == ["S-CONFIGURED"]
    assert "could not read the tracker to find its sender" in caplog.text


async def test_a_turns_replies_never_read_the_tracker_for_a_sender(
    lm: LoopMessageStandIn,
) -> None:
    """A turn knows its webhook's sender; a webhook naming none leaves the configured one,
    without the tracker read (a deserialisation) that a push may make."""
    app, channel, bot = make_app({**QUIET, "sender": "S-CONFIGURED"}, lm=lm.accept_everything())
    bot.tracker_events.append(user(SENDER_B))
    await answered(app, channel, inbound("hi"))
    assert senders_of(lm) == ["S-CONFIGURED"]


def test_rasas_own_events_carry_the_sender_where_it_is_read() -> None:
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

    events = [UserUttered("hi", metadata={"sender": SENDER_B}), ActionExecuted("utter_greet"),
              BotUttered("hello", metadata={"sender": "S-BOT"})]  # fmt: skip
    assert sender_in_events(events) == SENDER_B
