"""ButtonOffers: what is on the table per conversation, bounded, unknown until learned."""

from __future__ import annotations

import pytest

from rasa_imessage.offers import ButtonOffers

YES = {"title": "Yes", "payload": "/affirm"}
NO = {"title": "No", "payload": "/deny"}


def test_an_unknown_conversation_is_none_not_an_empty_offer():
    cache = ButtonOffers()
    assert cache.get("+13231112233") is None


def test_the_latest_offer_replaces_the_earlier_one():
    cache = ButtonOffers()
    cache.offered("a", [YES, NO])
    cache.offered("a", [NO])
    assert cache.get("a") == [NO]


def test_a_message_without_buttons_leaves_the_offer_on_the_table():
    cache = ButtonOffers()
    cache.offered("a", [YES, NO])
    cache.offered("a", [])
    assert cache.get("a") == [YES, NO]


def test_a_turn_of_the_user_takes_the_offer_off_the_table():
    cache = ButtonOffers()
    cache.offered("a", [YES])
    cache.answered("a")
    assert cache.get("a") == []
    cache.answered("b")  # known from now on: nothing offered
    assert cache.get("b") == []


def test_the_least_recently_used_conversation_is_forgotten_first():
    cache = ButtonOffers(max_conversations=2)
    cache.offered("a", [YES])
    cache.offered("b", [NO])
    assert cache.get("a") == [YES]  # a is now the most recent
    cache.answered("c")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ([YES], None, [])
    assert len(cache) == 2


def test_a_returned_offer_is_a_copy():
    cache = ButtonOffers()
    cache.offered("a", [YES])
    got = cache.get("a")
    assert got is not None
    got.append(NO)
    assert cache.get("a") == [YES]


def test_the_bound_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        ButtonOffers(max_conversations=0)


# -- in the channel: the cache spares the tracker read, and stands aside for replicas -----------

BUTTONS = {"text": "Are you sure?", "buttons": [YES, NO]}


@pytest.fixture
async def standin(lm):
    from lm_standin import SEND_PATH, TYPING_PATH

    lm.post(SEND_PATH).respond(200, json={"message_id": "O", "success": True})
    lm.post(TYPING_PATH).respond(200, json={})
    return lm


@pytest.mark.rasa
async def test_a_reply_to_buttons_the_channel_sent_needs_no_tracker_read(standin) -> None:
    pytest.importorskip("rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'")
    from channel_kit import inbound, make_app, send_webhook, served

    app, channel, bot = make_app(lm=standin)
    retrieve = bot.agent.tracker_store.retrieve
    bot.reply = [BUTTONS]
    async with served(app) as http:
        await send_webhook(http, inbound("hi", webhook_id="W1", message_id="M1"))
        await channel.turns.join()
        assert retrieve.await_count == 1  # a conversation new to this process: read once
        bot.reply = [{"text": "ok"}]
        await send_webhook(http, inbound("2", webhook_id="W2", message_id="M2"))
        await channel.turns.join()
        await send_webhook(http, inbound("2", webhook_id="W3", message_id="M3"))
        await channel.turns.join()
    assert [m.text for m in bot.messages] == ["hi", "/deny", "2"]  # answered: off the table
    assert retrieve.await_count == 1
    assert "1. Yes\n2. No" in standin.sends()[0]["text"]


@pytest.mark.rasa
@pytest.mark.redis
async def test_with_a_shared_store_every_reply_reads_the_tracker(standin, redis_url) -> None:
    pytest.importorskip("rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'")
    from unittest.mock import MagicMock

    from channel_kit import inbound, make_app, send_webhook, served

    app, channel, bot = make_app({"dedupe_store": redis_url}, lm=standin)
    retrieve = bot.agent.tracker_store.retrieve
    bot.tracker_events.extend(
        [
            MagicMock(type_name="user"),
            MagicMock(type_name="bot", data=BUTTONS),
        ]
    )  # fmt: skip: another replica offered these
    async with served(app) as http:
        await send_webhook(http, inbound("hi", webhook_id="R1", message_id="M1"))
        await channel.turns.join()
        await send_webhook(http, inbound("1", webhook_id="R2", message_id="M2"))
        await channel.turns.join()
    assert retrieve.await_count == 2
    assert [m.text for m in bot.messages] == ["hi", "/affirm"]


# -- ButtonOffers: the cache, or the tracker every time ------------------------------------------


class _Store:
    def __init__(self, events, fail: bool = False) -> None:  # type: ignore[no-untyped-def]
        self.events, self.fail, self.reads = events, fail, 0

    async def retrieve(self, conversation: str):  # type: ignore[no-untyped-def]
        from types import SimpleNamespace

        self.reads += 1
        if self.fail:
            raise ConnectionError("tracker store down")
        return SimpleNamespace(events=self.events)


def _agent(store):  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    return SimpleNamespace(tracker_store=store)


def _events():  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    return [SimpleNamespace(type_name="user", data={}),
            SimpleNamespace(type_name="bot", data={"buttons": [YES, NO]})]  # fmt: skip


async def test_without_the_cache_the_tracker_is_read_every_time() -> None:
    store = _Store(_events())
    offers = ButtonOffers(cached=False)
    offers.offered("a", [NO])  # ignored: another replica may have offered since
    offers.answered("a")
    assert await offers.on_the_table(_agent(store), "a") == [YES, NO]
    assert await offers.on_the_table(_agent(store), "a") == [YES, NO]
    assert store.reads == 2 and not offers.cached


async def test_with_the_cache_the_tracker_is_read_only_for_an_unknown_conversation() -> None:
    store = _Store(_events())
    offers = ButtonOffers(cached=True)
    assert await offers.on_the_table(_agent(store), "a") == [YES, NO]  # unknown: read
    offers.answered("a")
    assert await offers.on_the_table(_agent(store), "a") == []
    assert store.reads == 1


async def test_a_failing_tracker_store_costs_the_reply_nothing_but_a_log_line(caplog) -> None:
    from rasa_imessage.offers import read_tracker_offer

    assert await read_tracker_offer(_agent(_Store([], fail=True)), "a") == []
    assert "could not read the tracker" in caplog.text
    assert await read_tracker_offer(_agent(None), "a") == []  # an agent without a store
