"""Stopping the server: turns in flight finish, the rest go back to LoopMessage or a replica.

The app runs a whole server lifetime (`served`): the stop listeners run while requests can
still arrive, as they do in Sanic, whose socket stays open during `before_server_stop`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest

pytest.importorskip("rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'")
import httpx
from channel_kit import QUIET, inbound, make_app, send_webhook, served
from lm_standin import SEND_PATH, LoopMessageStandIn

pytestmark = pytest.mark.rasa

GUARD = 10  # a guard against a hang when a test fails, never a wait a test relies on


class Gate:
    """A bot whose turns wait at a gate, so a test decides when they may finish."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot
        self.open = asyncio.Event()
        self.started: List[str] = []
        self.arrived = asyncio.Event()
        self.finished: List[str] = []
        bot.agent.handle_message.side_effect = self.handle

    async def handle(self, message: Any) -> None:
        self.bot.messages.append(message)
        self.started.append(message.text)
        self.arrived.set()
        if not message.text.startswith("/"):  # follow-up turns do not wait
            await self.open.wait()
        for response in self.bot.reply:
            await message.output_channel.send_response(message.sender_id, dict(response))
        self.finished.append(message.text)


async def stop_server(app: Any) -> None:
    await app._server_event("shutdown", "before")


@pytest.fixture
async def lm(lm: LoopMessageStandIn) -> LoopMessageStandIn:
    """The stand-in, accepting every send."""
    lm.post(SEND_PATH).respond(200, json={"message_id": "O"})
    return lm


async def test_a_turn_in_flight_finishes_during_the_grace_period(lm: LoopMessageStandIn) -> None:
    app, channel, bot = make_app({**QUIET, "shutdown_timeout": "30"}, lm=lm)
    gate = Gate(bot)
    async with served(app) as http:
        assert (await send_webhook(http, inbound("slow"))).status_code == 200
        await asyncio.wait_for(gate.arrived.wait(), GUARD)
        stopping = asyncio.ensure_future(stop_server(app))
        await asyncio.sleep(0)
        assert not stopping.done()  # the drain waits for the turn ...
        gate.open.set()
        await asyncio.wait_for(stopping, GUARD)  # ... which finishes in the grace period
        assert gate.finished == ["slow"] and channel.turns.pending == 0
    app2_response = await _post_after_restart(app, inbound("slow"))
    assert app2_response.json() == {"status": "duplicate"}  # it was marked done


async def _post_after_restart(app: Any, body: Dict[str, Any]) -> httpx.Response:
    async with served(app) as http:
        return await send_webhook(http, body)


async def test_new_webhooks_get_503_while_follow_ups_of_turns_in_flight_still_run(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app({**QUIET, "shutdown_timeout": "30", "max_retries": "0"}, lm=lm)
    gate = Gate(bot)
    send = lm.post(SEND_PATH).respond(400, json={"success": False, "code": 520, "message": "x"})
    async with served(app) as http:
        assert (await send_webhook(http, inbound("in flight"))).status_code == 200
        await asyncio.wait_for(gate.arrived.wait(), GUARD)
        stopping = asyncio.ensure_future(stop_server(app))
        await asyncio.sleep(0)
        late = await send_webhook(http, inbound("late", webhook_id="W-late", message_id="M2"))
        assert late.status_code == 503 and "shutting down" in late.json()["error"]
        gate.open.set()  # the reply fails: the delivery-failed turn is queued mid-drain
        await asyncio.wait_for(stopping, GUARD)
    texts = [m.text for m in bot.messages]
    assert texts[0] == "in flight"
    assert texts[1].startswith('/imessage_delivery_failed{"error_code":520')
    assert len(texts) == 2 and channel.turns.pending == 0
    async with served(app) as http:  # the retry of the refused webhook, after the restart
        send.respond(200, json={"message_id": "O"})
        gate.open.set()
        assert (await send_webhook(http, inbound("late", webhook_id="W-late"))).status_code == 200
        await channel.turns.join()
    assert [m.text for m in bot.messages][2:] == ["late"]


async def test_what_cannot_finish_in_time_is_released_for_a_redelivery(
    lm: LoopMessageStandIn, figures: Any
) -> None:
    """In-memory store: released claims let LoopMessage's duplicate or 409-retried delivery run."""
    app, channel, bot = make_app({**QUIET, "shutdown_timeout": "0.05"}, lm=lm)
    gate = Gate(bot)
    webhooks = [inbound(f"m{i}", webhook_id=f"W{i}", message_id=f"M{i}") for i in range(3)]
    async with served(app) as http:
        for webhook in webhooks:  # one conversation: m1 and m2 wait behind m0
            assert (await send_webhook(http, webhook)).status_code == 200
        await asyncio.wait_for(gate.arrived.wait(), GUARD)
    # The server stopped: m0 was cancelled mid-turn, m1 and m2 never started.
    assert gate.started == ["m0"] and gate.finished == [] and channel.turns.pending == 0
    gate.open.set()
    async with served(app) as http:  # each is delivered again: each runs once
        retried = [await send_webhook(http, webhook) for webhook in webhooks]
        await channel.turns.join()
        again = [await send_webhook(http, webhook) for webhook in webhooks]
    assert [r.status_code for r in retried] == [200, 200, 200]
    assert {r.json()["status"] for r in again} == {"duplicate"}
    assert gate.finished == ["m0", "m1", "m2"]
    figures(webhooks_sent=3, cancelled_at_shutdown=3, redelivered=3, turns_completed=3)


# -- with Redis, another replica takes over ------------------------------------------------------


class Replica:
    """One replica of the bot sharing Redis; its turns wait at `gate` unless `open`."""

    def __init__(
        self, lm: LoopMessageStandIn, redis_url: str, open: bool, **credentials: Any
    ) -> None:
        self.app, self.channel, bot = make_app(
            {**QUIET, "dedupe_store": redis_url, "dedupe_lease_seconds": "1", **credentials},
            lm=lm,
        )
        self.gate = Gate(bot)
        if open:
            self.gate.open.set()


@pytest.mark.redis
async def test_a_turn_cancelled_at_shutdown_runs_on_another_replica(
    lm: LoopMessageStandIn, redis_url: str
) -> None:
    a = Replica(lm, redis_url, open=False, shutdown_timeout="0")
    b = Replica(lm, redis_url, open=True)
    body = inbound("handed over", webhook_id="W-handover-" + str(id(a)))
    async with served(b.app):
        async with served(a.app) as http_a:
            assert (await send_webhook(http_a, body)).status_code == 200
            await asyncio.wait_for(a.gate.arrived.wait(), GUARD)
        # A stopped before its turn finished: the turn was abandoned, B takes it over.
        await asyncio.wait_for(b.gate.arrived.wait(), GUARD)
        await b.channel.turns.join()
        async with served(a.app) as http_a:
            assert (await send_webhook(http_a, body)).json() == {"status": "duplicate"}
    assert a.gate.finished == [] and b.gate.finished == ["handed over"]


@pytest.mark.redis
async def test_a_replica_that_falls_silent_after_the_ack_loses_nothing(
    lm: LoopMessageStandIn, redis_url: str, figures: Any
) -> None:
    a = Replica(lm, redis_url, open=False, shutdown_timeout="0")
    b = Replica(lm, redis_url, open=True)
    body = inbound("orphan", webhook_id="W-orphan-" + str(id(a)))
    async with served(b.app) as http_b:
        async with served(a.app) as http_a:
            assert (await send_webhook(http_a, body)).status_code == 200
            await asyncio.wait_for(a.gate.arrived.wait(), GUARD)
            await a.channel._leases.stop()  # A hangs: no more renewals, as if it were gone
            await asyncio.wait_for(b.gate.arrived.wait(), GUARD)  # B runs it after the lease
            await b.channel.turns.join()
        # A's stop cancels its stuck turn; the claim it lost is not touched.
        assert (await send_webhook(http_b, body)).json() == {"status": "duplicate"}
    assert a.gate.finished == [] and b.gate.finished == ["orphan"]
    figures(acked_then_silent=1, taken_over=1, turns_on_the_survivor=len(b.gate.finished))


@pytest.mark.redis
async def test_nothing_is_taken_over_until_the_model_is_loaded(
    lm: LoopMessageStandIn, redis_url: str
) -> None:
    a = Replica(lm, redis_url, open=False, shutdown_timeout="0")
    b = Replica(lm, redis_url, open=True)
    b.gate.bot.ready = False  # B is still loading its model
    taken_over: List[int] = []
    rounds: asyncio.Queue[bool] = asyncio.Queue()
    maintain = b.channel.store.maintain

    async def counted(take_over: bool = True) -> Any:
        taken = await maintain(take_over)
        taken_over.extend(r.attempt for r in taken)
        rounds.put_nowait(take_over)
        return taken

    b.channel.store.maintain = counted  # type: ignore[method-assign]
    body = inbound("patience", webhook_id="W-patience-" + str(id(a)))
    async with served(b.app):
        async with served(a.app) as http_a:
            assert (await send_webhook(http_a, body)).status_code == 200
            await asyncio.wait_for(a.gate.arrived.wait(), GUARD)
        # A stopped and handed the webhook on; B goes round three times without taking it.
        while not rounds.empty():
            rounds.get_nowait()
        for _ in range(3):
            assert await asyncio.wait_for(rounds.get(), GUARD) is False
        assert not b.gate.started and taken_over == []
        b.gate.bot.ready = True
        await asyncio.wait_for(b.gate.arrived.wait(), GUARD)
        await b.channel.turns.join()
    assert b.gate.finished == ["patience"]
    assert taken_over == [1]  # on its first take-over: no attempt was spent while waiting


async def test_a_dead_dedupe_store_defers_the_webhook_with_503_not_500(
    lm: LoopMessageStandIn,
) -> None:
    from channel_kit import inbound, make_app, post

    from rasa_imessage.redis_store import RedisStore

    store = RedisStore("redis://127.0.0.1:1/0")  # nothing listens on port 1
    app, channel, bot = make_app(lm=lm, store=store)
    response = await post(app, inbound())
    assert response.status == 503 and "dedupe store" in response.json["error"]
    assert channel.turns.pending == 0 and not bot.messages
    assert lm.calls == []  # nor a typing indicator for a webhook that was not taken
