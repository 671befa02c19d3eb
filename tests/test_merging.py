"""`merge_window`: bubbles sent in a row reach Rasa as one message (merging.py), through
Rasa's own app (`configure_app`) with a stand-in agent and the LoopMessage stand-in."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lm_standin import TYPING_PATH, LoopMessageStandIn

rasa_run = pytest.importorskip(
    "rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'"
)
from channel_kit import QUIET, inbound, make_app, send_webhook, served  # noqa: E402

from rasa_imessage.loopmessage import parse_webhook  # noqa: E402
from rasa_imessage.merging import (  # noqa: E402
    MAX_BUBBLES,
    Bubbles,
    leads_in,
    mergeable,
    merged,
    with_bubble_ids,
)

pytestmark = pytest.mark.rasa


@pytest.fixture
async def lm(lm: LoopMessageStandIn) -> LoopMessageStandIn:
    return lm.accept_everything()


def bubble(number: int, text: str = "", **fields: Any) -> Dict[str, Any]:
    return inbound(text, message_id=f"M-{number}", webhook_id=f"W-{number}", **fields)


def reaction(number: int) -> Dict[str, Any]:
    return {"event": "message_reaction", "contact": "+13231112233", "reaction": "love",
            "message_id": "BOT-1", "webhook_id": f"W-{number}"}  # fmt: skip


async def post_all(app: Any, channel: Any, *bodies: Dict[str, Any]) -> List[int]:
    """Post the webhooks one after another, then wait for every turn to end."""
    async with served(app) as http:
        statuses = [(await send_webhook(http, body)).status_code for body in bodies]
        await channel.turns.join()
    return statuses


async def two_bubbles_then_their_retries(app: Any, channel: Any) -> List[Any]:
    """Two bubbles, their turn, then LoopMessage's retry of both webhooks: its answers."""
    async with served(app) as http:
        for number in (1, 2):
            await send_webhook(http, bubble(number, f"part {number}"))
        await channel.turns.join()
        again = [(await send_webhook(http, bubble(n, f"part {n}"))).json() for n in (1, 2)]
        await channel.turns.join()
    return again


async def test_bubbles_within_the_window_reach_rasa_as_one_message(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app({**QUIET, "merge_window": "0.3", "merge_mode": "all"}, lm=lm)
    statuses = await post_all(
        app, channel,
        bubble(1, "look at this"),
        bubble(2, "https://example.com/flat"),
        bubble(3, attachments=["https://x.io/plan.png"]),
    )  # fmt: skip
    assert statuses == [200, 200, 200]  # each acked at once
    (message,) = bot.messages
    assert message.text == "look at this\nhttps://example.com/flat"
    assert message.message_id == "M-3"  # the last bubble's: a threaded reply goes to it
    assert message.metadata["message_ids"] == ["M-1", "M-2", "M-3"]
    assert [a["url"] for a in message.metadata["attachments"]] == ["https://x.io/plan.png"]
    assert len(lm.sends()) == 1  # answered once


async def test_every_bubble_of_a_gathered_turn_is_answered_once_only(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app({**QUIET, "merge_window": "0.2", "merge_mode": "all"}, lm=lm)
    again = await two_bubbles_then_their_retries(app, channel)
    assert again == [{"status": "duplicate"}] * 2  # both webhooks' claims are done
    assert [m.text for m in bot.messages] == ["part 1\npart 2"]


async def test_a_bubble_after_the_window_starts_a_turn_of_its_own(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app({**QUIET, "merge_window": "0.1", "merge_mode": "all"}, lm=lm)
    async with served(app) as http:
        await send_webhook(http, bubble(1, "first"))
        await asyncio.sleep(0.4)
        await send_webhook(http, bubble(2, "second"))
        await channel.turns.join()
    assert [(m.text, "message_ids" in m.metadata) for m in bot.messages] == [
        ("first", False),
        ("second", False),
    ]


async def test_a_reaction_closes_the_gathering_and_arrival_order_holds(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app({**QUIET, "merge_window": "0.3", "merge_mode": "all"}, lm=lm)
    await post_all(app, channel, bubble(1, "one"), reaction(2), bubble(3, "three"))
    texts = [m.text for m in bot.messages]
    assert texts[0] == "one" and texts[2] == "three"
    assert texts[1].startswith("/imessage_reaction")


@pytest.mark.parametrize("mode", ["lead_ins", "all"])
async def test_with_no_window_every_bubble_is_a_turn(lm: LoopMessageStandIn, mode: str) -> None:
    """`merge_window: 0`, the default, gathers nothing, not even a lead-in and its link that
    wait together behind a turn still running in their conversation."""
    app, channel, bot = make_app({**QUIET, "merge_mode": mode}, lm=lm)
    first_turn_may_end = asyncio.Event()

    async def handle(message: Any) -> None:
        bot.messages.append(message)
        if len(bot.messages) == 1:
            await asyncio.wait_for(first_turn_may_end.wait(), 10)

    app.ctx.agent.handle_message.side_effect = handle
    async with served(app) as http:
        for body in (bubble(1, "one"), bubble(2, "look at this"), bubble(3, "www.example.com")):
            await send_webhook(http, body)
        first_turn_may_end.set()
        await channel.turns.join()
    assert [m.text for m in bot.messages] == ["one", "look at this", "www.example.com"]


async def test_bubbles_past_the_most_one_turn_takes_start_the_next(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app({**QUIET, "merge_window": "0.3", "merge_mode": "all"}, lm=lm)
    bodies = [bubble(n, f"b{n}") for n in range(MAX_BUBBLES + 2)]
    await post_all(app, channel, *bodies)
    assert [m.text.count("\n") + 1 for m in bot.messages] == [MAX_BUBBLES, 2]
    assert [m.text.split("\n")[0] for m in bot.messages] == ["b0", f"b{MAX_BUBBLES}"]


async def test_a_failed_gathered_turn_releases_every_claim_for_loopmessages_retry(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app({**QUIET, "merge_window": "0.2", "merge_mode": "all"}, lm=lm)
    handled: List[str] = []

    async def fails_once(message: Any) -> None:
        handled.append(message.text)
        if len(handled) == 1:
            raise RuntimeError("the tracker store is down")

    bot.agent.handle_message.side_effect = fails_once
    retried = await two_bubbles_then_their_retries(app, channel)
    assert retried == [{"status": "ok"}] * 2  # released, so LoopMessage's retries run
    assert handled == ["part 1\npart 2", "part 1\npart 2"]


async def test_the_typing_indicator_and_read_receipt_are_for_the_last_bubble(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, _ = make_app(
        {"typing_seconds": "5", "typing_delay": "0", "merge_window": "0.2", "merge_mode": "all"},
        lm=lm,
    )
    await post_all(app, channel, bubble(1, "one"), bubble(2, "two"))
    await asyncio.gather(*channel.conversations.side_tasks)
    typing = [call.json for call in lm.post(TYPING_PATH).calls]
    assert typing == [{"message_id": "M-2", "typing": 5, "read": True}]


async def test_the_typing_delay_counts_from_the_end_of_the_gathering(
    lm: LoopMessageStandIn,
) -> None:
    """A window longer than `typing_delay` shows no indicator while the contact is still
    typing: a quick reply only marks the bubble read alongside."""
    app, channel, _ = make_app(
        {"typing_seconds": "5", "typing_delay": "0.2", "merge_window": "0.4", "merge_mode": "all"},
        lm=lm,
    )
    await post_all(app, channel, bubble(1, "one"))
    await asyncio.gather(*channel.conversations.side_tasks)
    typing = [call.json for call in lm.post(TYPING_PATH).calls]
    assert typing == [{"message_id": "M-1", "read": True}]


async def test_metadata_keys_without_message_ids_leave_it_out(lm: LoopMessageStandIn) -> None:
    app, channel, bot = make_app(
        {**QUIET, "merge_window": "0.2", "merge_mode": "all", "metadata_keys": "message_id"}, lm=lm
    )
    await post_all(app, channel, bubble(1, "one"), bubble(2, "two"))
    (message,) = bot.messages
    assert message.metadata == {"message_id": "M-2"}


async def test_a_bubble_being_gathered_at_shutdown_gets_its_turn_at_once(
    lm: LoopMessageStandIn,
) -> None:
    """Shutdown does not wait out the window: with a window longer than `shutdown_timeout`,
    the gathered bubble's turn still runs within the drain."""
    app, _, bot = make_app(
        {**QUIET, "merge_window": "20", "merge_mode": "all", "shutdown_timeout": "2"}, lm=lm
    )
    async with served(app) as http:
        await send_webhook(http, bubble(1, "bye"))
    # leaving `served` ran the stop listeners: the drain started the turn and let it run
    assert [m.text for m in bot.messages] == ["bye"]
    assert len(lm.sends()) == 1


@pytest.mark.parametrize(
    ("body", "gathered"),
    [
        (inbound("hi"), True),
        (inbound("", attachments=["https://x.io/a.png"]), True),
        (inbound("", message_type="text"), False),  # nothing in it
        (inbound("hi", group={"id": "G-1", "participants": ["+13231112233"]}), False),
        (inbound("hi", type="opt_in"), False),
        (inbound("", message_type="audio", attachments=["https://x.io/v.caf"],
                 speech={"text": "call me", "language": {"code": "en"}}), False),
        (reaction(1), False),
    ],
)  # fmt: skip
def test_only_plain_text_and_attachment_messages_of_one_contact_are_gathered(
    body: Dict[str, Any], gathered: bool
) -> None:
    assert mergeable(parse_webhook(body)) is gathered


def test_merged_joins_the_texts_keeps_every_attachment_and_the_last_bubbles_fields() -> None:
    events = [
        parse_webhook(inbound("  first  ", message_id="M-1", attachments=["https://x.io/1.png"])),
        parse_webhook(inbound("", message_id="M-2", attachments=["https://x.io/2.png"])),
        parse_webhook(inbound("third", message_id="M-3", subject="Plans")),
    ]
    event = merged(events)
    assert event.text == "first\nthird"
    assert event.attachments == ["https://x.io/1.png", "https://x.io/2.png"]
    assert (event.message_id, event.subject) == ("M-3", "Plans")
    assert merged(events[:1]) is events[0]


async def test_bubbles_take_no_more_once_closed_or_full() -> None:
    """A bubble they refuse starts a turn of its own: one they took after their turn had
    started would be lost to it."""
    events = [parse_webhook(bubble(number, f"part {number}")) for number in range(12)]
    closed = Bubbles(events[0], "W-0")
    assert closed.add(events[1], "W-1")
    closed.close()
    assert not closed.add(events[2], "W-2")
    assert (closed.events, closed.keys) == (events[:2], ["W-0", "W-1"])
    full = Bubbles(events[0], None)
    assert all(full.add(event, None) for event in events[1:MAX_BUBBLES])
    assert not full.add(events[MAX_BUBBLES], None)
    assert len(full.events) == MAX_BUBBLES and full.keys == []


async def test_a_turn_gathering_bubbles_holds_no_place_among_those_computing(
    lm: LoopMessageStandIn,
) -> None:
    """With one place for turns, another contact's turn runs while the first one waits for
    more bubbles, instead of waiting behind it."""
    app, channel, bot = make_app(
        {**QUIET, "merge_window": "0.3", "merge_mode": "all", "max_concurrent_turns": "1"}, lm=lm
    )
    other = {**reaction(9), "contact": "+13239998877"}  # a turn of its own, at once
    await post_all(app, channel, bubble(1, "still typing"), other)
    texts = [m.text for m in bot.messages]
    assert texts[0].startswith("/imessage_reaction") and texts[1] == "still typing"


async def test_a_bubble_after_a_turn_failed_is_not_lost_to_it(lm: LoopMessageStandIn) -> None:
    """A turn that fails ends its gathering first: the next bubble starts a turn of its own
    instead of joining one that will never run."""
    app, channel, bot = make_app({**QUIET, "merge_window": "0.2", "merge_mode": "all"}, lm=lm)
    async with served(app) as http:
        handler, channel.conversations.handler = channel.conversations.handler, None
        await send_webhook(http, bubble(1, "lost to a broken set-up"))
        await channel.turns.join()  # the turn failed: its claim is released for the retry
        channel.conversations.handler = handler
        await send_webhook(http, bubble(2, "after"))
        await channel.turns.join()
    assert [m.text for m in bot.messages] == ["after"]


def test_message_ids_name_the_bubbles_that_have_one() -> None:
    events = [parse_webhook(inbound(text, message_id=message_id))
              for text, message_id in (("a", "M-1"), ("b", None), ("c", "M-3"))]  # fmt: skip
    assert with_bubble_ids({}, events, None) == {"message_ids": ["M-1", "M-3"]}
    assert with_bubble_ids({"text": "a"}, events[:1], None) == {"text": "a"}  # one: no key


# -- `merge_mode: lead_ins` (the default): only a bubble that announces more waits ----------

# Longer than any test waits: a turn that waited it out would time the test out.
LONG_WINDOW = {**QUIET, "merge_window": "30"}


async def answered_within(app: Any, channel: Any, *bodies: Dict[str, Any]) -> List[int]:
    """`post_all`, failing if the turns wait for the window instead of starting at once."""
    return await asyncio.wait_for(post_all(app, channel, *bodies), timeout=10)


async def test_a_lead_in_and_the_link_after_it_are_one_turn_started_when_the_link_comes(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app(LONG_WINDOW, lm=lm)
    statuses = await answered_within(
        app, channel, bubble(1, "look at this"), bubble(2, "https://example.com/flat")
    )
    assert statuses == [200, 200]
    (message,) = bot.messages
    assert message.text == "look at this\nhttps://example.com/flat"
    assert message.metadata["message_ids"] == ["M-1", "M-2"]
    assert len(lm.sends()) == 1


async def test_a_message_that_announces_nothing_is_answered_without_waiting(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app(LONG_WINDOW, lm=lm)
    await answered_within(app, channel, bubble(1, "What are your opening hours?"))
    assert [m.text for m in bot.messages] == ["What are your opening hours?"]


async def test_lead_ins_in_a_row_wait_for_the_bubble_that_completes_them(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app(LONG_WINDOW, lm=lm)
    await answered_within(
        app, channel,
        bubble(1, "ok so"), bubble(2, "I want to"), bubble(3, "book a flight"),
        bubble(4, "and then:"), bubble(5, attachments=["https://x.io/ticket.png"]),
    )  # fmt: skip
    assert [(m.text, m.metadata["message_ids"]) for m in bot.messages] == [
        ("ok so\nI want to\nbook a flight", ["M-1", "M-2", "M-3"]),
        ("and then:", ["M-4", "M-5"]),
    ]
    assert [a["url"] for a in bot.messages[1].metadata["attachments"]] == [
        "https://x.io/ticket.png"
    ]


async def test_only_the_lead_in_waits_and_the_bubble_before_it_is_answered_alone(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app(LONG_WINDOW, lm=lm)
    await answered_within(
        app, channel, bubble(1, "hi"), bubble(2, "see this"), bubble(3, "www.example.com")
    )
    assert [m.text for m in bot.messages] == ["hi", "see this\nwww.example.com"]


async def test_a_lead_in_nothing_follows_is_answered_alone_after_the_window(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app({**QUIET, "merge_window": "0.2"}, lm=lm)
    await post_all(app, channel, bubble(1, "look at this"))
    assert [(m.text, "message_ids" in m.metadata) for m in bot.messages] == [
        ("look at this", False)
    ]


async def test_a_reaction_after_a_lead_in_goes_after_it(lm: LoopMessageStandIn) -> None:
    app, channel, bot = make_app(LONG_WINDOW, lm=lm)
    await answered_within(app, channel, bubble(1, "so basically,"), reaction(2))
    texts = [m.text for m in bot.messages]
    assert texts[0] == "so basically," and texts[1].startswith("/imessage_reaction")


async def test_typing_shows_at_once_for_a_plain_message_and_for_a_lead_ins_last_bubble(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, _ = make_app(
        {"typing_seconds": "5", "typing_delay": "0", "merge_window": "30"}, lm=lm
    )
    await answered_within(
        app, channel, bubble(1, "hello"), bubble(2, "look at this"), bubble(3, "https://x.io")
    )
    await asyncio.gather(*channel.conversations.side_tasks)
    typed = [call.json["message_id"] for call in lm.post(TYPING_PATH).calls]
    assert typed == ["M-1", "M-3"]


@pytest.mark.parametrize(
    "text",
    [
        "look at this", "Check this out", "see below", "here you go", "Here\u2019s the link",
        "see attached",
        "I want to", "ok so", "my order number is", "and the", "um",
        "the error says:", "so basically,", "hmm...", "wait\u2026", "well -",
    ],
)  # fmt: skip
def test_bubbles_that_announce_more_lead_in(text: str) -> None:
    assert leads_in(parse_webhook(inbound(text)))


@pytest.mark.parametrize(
    "text",
    [
        "hi", "yes", "2", "thanks", "ok thanks", "\U0001f600", "book a flight", "picture",
        "here", "this", "screenshot",
        "Look at this!", "what about this?", "I can't see this page at all",
        "look https://example.com", "https://example.com", "www.example.com",
        "I want to.", "\u201cok so.\u201d", "",
    ],
)  # fmt: skip
def test_bubbles_complete_in_themselves_do_not(text: str) -> None:
    assert not leads_in(parse_webhook(inbound(text)))


def test_an_attachment_is_what_a_lead_in_announced_never_a_lead_in() -> None:
    body = inbound("look at this", attachments=["https://x.io/a.png"])
    assert not leads_in(parse_webhook(body))


# Any text, or words that lead in where they end a bubble ("look at this", "I want to").
_BEFORE = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(["look", "at", "this", "here", "I", "want", "to", "so", "the",
                              "hmm...", "see:", "below", "and"]), max_size=5).map(" ".join),
)  # fmt: skip


@given(_BEFORE)
def test_a_finished_sentence_and_a_link_never_lead_in_whatever_comes_before(text: str) -> None:
    assert not leads_in(parse_webhook(inbound(f"{text} ok.")))
    assert not leads_in(parse_webhook(inbound(f"{text} https://example.com/{len(text)}")))


@given(st.text(alphabet=st.characters(categories=["L", "Zs"]), max_size=100))
def test_any_link_free_text_ending_with_a_colon_leads_in(text: str) -> None:
    assert leads_in(parse_webhook(inbound(f"{text}:")))
