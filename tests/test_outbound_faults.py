"""Replies under a failing LoopMessage: delivered once and in order, or failed fast and said so.

The LoopMessage stand-in (a real HTTP server on 127.0.0.1, tests/lm_standin.py) fails a
configurable share of sends the ways LoopMessage and networks do: HTTP 500, read timeouts,
connection resets, 429 with Retry-After, code 1010. It fails a send before accepting it (a
fault after acceptance looks the same to a client and would be sent twice; see the README's
Reliability section), and never more times in a row than the client retries, so every reply
can get through.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter, defaultdict
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Tuple

import pytest

pytest.importorskip("rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'")
import httpx
from channel_kit import (
    API_KEY,
    AUTH,
    inbound,
    make_app,
    send_webhook,
    served,
)
from lm_standin import (
    SEND_PATH,
    TYPING_PATH,
    Call,
    LoopMessageStandIn,
    Outcome,
    Reply,
    Reset,
    Stall,
)

from rasa_imessage.config import load_config
from rasa_imessage.loopmessage import LoopMessageClient, RetryPolicy

pytestmark = pytest.mark.rasa

FAULT_KINDS = ("http500", "timeout", "reset", "429", "1010")
RETRY_AFTER = 2.5
GUARD = 10  # a guard against a hang when a test fails, never a wait a test relies on
# A timeout fault stalls its answer past the client's request_timeout (the client's wait is
# real: aiohttp's read timeout). 3 s: the stand-in shares the event loop with the app, and
# on a loaded CI machine a spurious timeout on a send already accepted would be a duplicate.
REQUEST_TIMEOUT = "3"
STALL = 10
# The API hangs in some tests until the test lets it answer: no timeout may fire meanwhile.
NO_TIMEOUT = "120"


class FaultyLoopMessage:
    """Accepts sends, failing a share `rate` of attempts first (at most `in_a_row` per send).

    Whether an attempt fails, and how, is drawn from a random seeded with the send's body and
    how many times that body failed in a row: the same faults on every run, whichever order
    the conversations' requests reach the stand-in in.
    """

    def __init__(self, rate: float, seed: int, in_a_row: int) -> None:
        self.rate = rate
        self.seed = seed
        self.in_a_row = in_a_row
        self.accepted: Dict[str, List[str]] = defaultdict(list)
        self.attempts = 0
        self.faults: Counter[str] = Counter()
        self._failed_in_a_row: Counter[bytes] = Counter()

    def __call__(self, call: Call) -> Outcome:
        self.attempts += 1
        key = call.content
        failed = self._failed_in_a_row[key]
        draw = random.Random(f"{self.seed}:{failed}:{key.decode()}")
        if failed < self.in_a_row and draw.random() < self.rate:
            self._failed_in_a_row[key] += 1
            kind = draw.choice(FAULT_KINDS)
            self.faults[kind] += 1
            return _fault(kind)
        self._failed_in_a_row.pop(key, None)
        body = call.json
        self.accepted[body["contact"]].append(body["text"])
        return Reply(200, json={"message_id": f"OUT-{self.attempts}"})


def _fault(kind: str) -> Outcome:
    if kind == "timeout":
        return Stall(STALL)  # the client's read timeout ends the wait
    if kind == "reset":
        return Reset()
    if kind == "429":
        return Reply(429, headers={"Retry-After": str(RETRY_AFTER)}, json={})
    if kind == "1010":
        return Reply(400, json={"success": False, "code": 1010, "message": "failed"})
    return Reply(500, body=b"Internal Server Error")


class Sleeps:
    """The retry policy's sleep: records the delays and yields without waiting."""

    def __init__(self) -> None:
        self.delays: List[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


AppWithClient = Callable[..., Tuple[Any, Any, Any]]


@pytest.fixture
async def app_with_client(lm: LoopMessageStandIn) -> AsyncIterator[AppWithClient]:
    """make_app on the stand-in, with a real client whose retries do not wait (sleeps recorded).

    `app_with_client(credentials=None, sleeps=None)`; the clients are closed at the end.
    """
    clients: List[LoopMessageClient] = []

    def make(
        credentials: Optional[Dict[str, Any]] = None, sleeps: Optional[Sleeps] = None
    ) -> Tuple[Any, Any, Any]:
        settings = {"api_key": API_KEY, "webhook_auth": AUTH, "base_url": lm.url}
        settings.update(credentials or {})
        config = load_config(settings)
        policy = RetryPolicy(max_retries=config.max_retries, sleep=sleeps or Sleeps())
        client = LoopMessageClient(config.client_config(), retry=policy)
        clients.append(client)  # a client passed in is the caller's to close
        return make_app(credentials, lm=lm, client=client)

    yield make
    for client in clients:
        await client.aclose()


def echo_twice(bot: Any) -> None:
    """The bot answers every message with two bubbles naming it."""

    async def handle(message: Any) -> None:
        bot.messages.append(message)
        for part in ("a", "b"):
            await message.output_channel.send_response(
                message.sender_id, {"text": f"{message.text} {part}"}
            )

    bot.agent.handle_message.side_effect = handle


async def test_every_reply_is_delivered_once_and_in_order_despite_faults(
    lm: LoopMessageStandIn,
    app_with_client: AppWithClient,
    caplog: pytest.LogCaptureFixture,
    figures: Any,
) -> None:
    conversations, per_conversation = 8, 10
    stand_in = FaultyLoopMessage(rate=0.3, seed=5, in_a_row=2)
    sleeps = Sleeps()
    app, channel, bot = app_with_client(
        {"typing_seconds": "0", "mark_read": "false", "request_timeout": REQUEST_TIMEOUT}, sleeps
    )
    echo_twice(bot)
    contacts = [f"+1323555{index:04d}" for index in range(conversations)]
    webhooks = {
        contact: [
            inbound(f"c{c}-m{m}", contact=contact, message_id=f"M{c}-{m}", webhook_id=f"W{c}-{m}")
            for m in range(per_conversation)
        ]
        for c, contact in enumerate(contacts)
    }
    statuses: Counter[int] = Counter()

    async def conversation(http: httpx.AsyncClient, contact: str) -> None:
        for webhook in webhooks[contact]:
            first, again = await send_webhook(http, webhook), await send_webhook(http, webhook)
            assert first.status_code == 200 and first.json() == {"status": "ok"}
            assert again.status_code in (200, 409)  # a duplicate: never a second turn
            statuses[again.status_code] += 1

    lm.post(SEND_PATH).handle(stand_in)
    with caplog.at_level(logging.WARNING, logger="rasa_imessage"):
        async with served(app) as http:
            await asyncio.gather(*(conversation(http, contact) for contact in contacts))
            await channel.turns.join()
            retried = [await send_webhook(http, w) for ws in webhooks.values() for w in ws]
    assert {r.json()["status"] for r in retried} == {"duplicate"}
    assert lm.unrouted == [] and len(lm.sends()) == stand_in.attempts  # only sends, all seen

    sent = sum(len(ws) for ws in webhooks.values())
    assert len(bot.messages) == sent  # one turn per webhook
    assert len({m.message_id for m in bot.messages}) == sent
    for contact in contacts:
        expected = [f"{w['text']} {part}" for w in webhooks[contact] for part in ("a", "b")]
        assert stand_in.accepted[contact] == expected  # each reply once, in order
    delivered = sum(len(texts) for texts in stand_in.accepted.values())
    assert delivered == 2 * sent
    assert set(stand_in.faults) == set(FAULT_KINDS)  # every kind of fault was injected
    assert sleeps.delays.count(RETRY_AFTER) == stand_in.faults["429"]  # Retry-After honoured
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert channel.turns.pending == 0
    figures(
        webhooks_sent=sent,
        duplicates_injected=sent * 2,
        send_attempts=stand_in.attempts,
        faults_injected=sum(stand_in.faults.values()),
        **{f"faults_{kind}": stand_in.faults[kind] for kind in FAULT_KINDS},
        turns_run=len(bot.messages),
        replies_delivered=delivered,
        replies_duplicated=delivered - 2 * sent,
        lost=2 * sent - delivered,
    )


@pytest.mark.parametrize(
    ("api", "code"),
    [("current", 520), ("current", 130), ("current", 160), ("current", 180), ("current", 1020),
     ("legacy", 560), ("legacy", 125), ("legacy", 180)],
)  # fmt: skip
async def test_a_final_error_fails_fast_with_one_log_line_and_the_failure_intent(
    api: str,
    code: int,
    lm: LoopMessageStandIn,
    app_with_client: AppWithClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    credentials: Dict[str, Any] = {"typing_seconds": "0", "mark_read": "false"}
    if api == "legacy":
        credentials.update(api="legacy", api_key=None, authorization_key="a", secret_key="s",
                           sender_name="bot@imsg.co")  # fmt: skip
    app, channel, bot = app_with_client(credentials)
    only_greet_the_user(bot)
    body = inbound("hi")
    if api == "legacy":
        body = {"alert_type": "message_inbound", "recipient": "+13231112233", "text": "hi",
                "message_id": "M-1", "webhook_id": "W-1"}  # fmt: skip
    route = lm.post(SEND_PATH).respond(400, json={"success": False, "code": code, "message": "x"})
    with caplog.at_level(logging.DEBUG, logger="rasa_imessage"):
        async with served(app) as http:
            assert (await send_webhook(http, body)).status_code == 200
            await channel.turns.join()
    assert route.call_count == 1  # no retry
    assert lm.unrouted == []
    if api == "legacy":  # the legacy API's send, with its own credentials
        assert route.calls[0].headers["Loop-Secret-Key"] == "s"
        assert route.calls[0].json["sender_name"] == "bot@imsg.co"
    texts = [m.text for m in bot.messages]
    assert texts[0] == "hi"
    assert texts[1].startswith(f'/imessage_delivery_failed{{"error_code":{code},')
    assert len(texts) == 2
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"LoopMessage code {code} " in error and "What to do: " in error
    assert "\n" not in error and "+13231112233" not in error


def only_greet_the_user(bot: Any) -> None:
    """The bot answers the user's message, not the delivery-failed intent."""

    async def handle(message: Any) -> None:
        bot.messages.append(message)
        if not message.text.startswith("/"):
            await message.output_channel.send_response(message.sender_id, {"text": "hello"})

    bot.agent.handle_message.side_effect = handle


def _stand_in_tasks() -> int:
    """The tasks of the stand-in's server, which shares this event loop with the app."""
    return sum(
        1
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "").startswith("RequestHandler.")
    )


async def test_a_dead_api_meets_a_ceiling_on_queued_turns_then_nothing_is_lost(
    lm: LoopMessageStandIn, app_with_client: AppWithClient, figures: Any
) -> None:
    ceiling, flood = 20, 60
    credentials = {"max_queued_turns": str(ceiling), "max_concurrent_turns": "4",
                   "typing_seconds": "5", "request_timeout": NO_TIMEOUT}  # fmt: skip
    app, channel, bot = app_with_client(credentials)
    api_back, four_hanging = asyncio.Event(), asyncio.Event()
    typing_calls = hanging = 0

    async def dead_then_back(call: Call) -> Outcome:
        nonlocal hanging
        hanging += 1
        if hanging == 4:
            four_hanging.set()
        await api_back.wait()  # a hung LoopMessage: nothing answers until it comes back
        return Reply(200, json={"message_id": "OUT"})

    async def typing(call: Call) -> Outcome:
        nonlocal typing_calls
        typing_calls += 1
        await api_back.wait()
        return Reply(200, json={})

    webhooks = [
        inbound(f"m{i}", contact=f"+1323666{i:04d}", message_id=f"M{i}", webhook_id=f"W{i}")
        for i in range(flood)
    ]
    lm.post(SEND_PATH).handle(dead_then_back)
    lm.post(TYPING_PATH).handle(typing)
    try:
        async with served(app) as http:
            first = [await send_webhook(http, w) for w in webhooks]
            accepted = [w for w, r in zip(webhooks, first) if r.status_code == 200]
            deferred = [w for w, r in zip(webhooks, first) if r.status_code != 200]
            assert len(accepted) == ceiling
            assert {r.status_code for r in first[ceiling:]} == {503}
            assert first[-1].json()["error"] == "too many turns waiting; LoopMessage will retry"
            await asyncio.wait_for(four_hanging.wait(), GUARD)
            assert channel.turns.pending == ceiling  # bounded work ...
            assert channel.turns.running == 4 and hanging == 4
            # The stand-in's server runs in this loop too: its tasks are not the app's.
            tasks_while_dead = len(asyncio.all_tasks()) - _stand_in_tasks()
            assert tasks_while_dead <= ceiling + ceiling + 10  # ... and bounded tasks
            api_back.set()
            await channel.turns.join()
            # LoopMessage retries what got 503, over time: now it runs. A batch of retries at
            # most the ceiling at a time, as each turn takes real round trips to the stand-in
            # while the next webhooks arrive.
            retried = []
            for start in range(0, len(deferred), ceiling):
                retried += [await send_webhook(http, w) for w in deferred[start : start + ceiling]]
                await channel.turns.join()
            assert {r.status_code for r in retried} == {200}
    finally:
        api_back.set()  # a failed assertion must not leave the stand-in's answers hanging
    handled = sorted(m.message_id for m in bot.messages)
    assert handled == sorted(w["message_id"] for w in webhooks)  # each exactly once
    assert lm.unrouted == []
    figures(
        webhooks_sent=flood,
        turn_ceiling=ceiling,
        answered_503=len(deferred),
        most_pending=ceiling,
        tasks_while_dead=tasks_while_dead,
        turns_run=len(bot.messages),
        lost=flood - len(set(handled)),
    )


async def test_typing_calls_to_a_hung_api_are_capped(
    lm: LoopMessageStandIn, app_with_client: AppWithClient
) -> None:
    from rasa_imessage.conversations import _MAX_TYPING_CALLS

    app, channel, bot = app_with_client({"typing_seconds": "5", "request_timeout": NO_TIMEOUT})
    bot.reply = []
    api_back = asyncio.Event()

    async def hung(call: Call) -> Outcome:
        await api_back.wait()
        return Reply(200, json={})

    route = lm.post(TYPING_PATH).handle(hung)
    try:
        async with served(app) as http:
            for index in range(_MAX_TYPING_CALLS + 50):
                webhook = inbound(contact=f"+1323777{index:04d}", webhook_id=f"W{index}",
                                  message_id=f"M{index}")  # fmt: skip
                assert (await send_webhook(http, webhook)).status_code == 200
                await asyncio.sleep(0)
            await channel.turns.join()
            assert len(channel.conversations.side_tasks) == _MAX_TYPING_CALLS
            api_back.set()
            await asyncio.gather(*channel.conversations.side_tasks)
    finally:
        api_back.set()  # a failed assertion must not leave the stand-in's answers hanging
    assert route.call_count == _MAX_TYPING_CALLS
    assert len(bot.messages) == _MAX_TYPING_CALLS + 50  # the turns themselves all ran
    assert lm.unrouted == []
