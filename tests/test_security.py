"""Nobody in, nothing out: secrets stay out of logs, URLs are checked, user text stays text.

The log test runs whole turns over real HTTP both ways: the emulator posts LoopMessage's
webhooks to the channel served by Sanic on loopback, the channel's real client (aiohttp)
sends the replies back to the emulator, with the root logger (aiohttp, Sanic, asyncio, the
test's own httpx client included) at DEBUG. The other tests answer the channel with the `lm`
stand-in on 127.0.0.1 (tests/lm_standin.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, AsyncIterator, Callable, Dict, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'")
import httpx
from aiohttp import web
from channel_kit import API_KEY as KIT_API_KEY
from channel_kit import (
    AUTH,
    FIXED_FUZZ,
    URL,
    inbound,
    listening,
    make_app,
    send_webhook,
    served,
    until,
)
from lm_standin import SEND_PATH, TYPING_PATH, LoopMessageStandIn
from pydantic import SecretStr

from rasa_imessage.config import load_config
from rasa_imessage.emulator import Emulator, EmulatorConfig
from rasa_imessage.emulator.config import Api
from rasa_imessage.emulator.lifecycle import Inbound
from rasa_imessage.inbound import to_turn
from rasa_imessage.loopmessage import ClientConfig, LoopMessageClient, parse_webhook

pytestmark = pytest.mark.rasa

API_KEY = "org-key-" + "5d1e2b" * 6
LEGACY_KEY, LEGACY_SECRET = "legacy-auth-" + "a7" * 16, "legacy-secret-" + "c3" * 16
PHONE, EMAIL = "+13231112233", "jane.appleseed@icloud.com"
PRIVATE_TEXT = "my bank pin is 4321"
GUARD = 20  # a guard against a hang when a test fails, never a wait a test relies on
# The emulator and the CDN stand in for LoopMessage and the internet: they hold the keys
# and see contacts by design, so their own log lines are not the connector's. Only aiohttp's
# server-side loggers are theirs: the connector's client is aiohttp too, and its loggers
# (aiohttp.client, aiohttp.internal) are checked with the connector's own.
STAND_IN_LOGGERS = ("rasa_imessage.emulator", "aiohttp.access", "aiohttp.server", "aiohttp.web")


@pytest.fixture
async def cdn() -> AsyncIterator[Dict[str, Any]]:
    """A file server on loopback standing in for the attachment URLs users send."""
    seen: List[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(body=b"\x89PNG", content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield {"url": f"http://127.0.0.1:{runner.addresses[0][1]}", "seen": seen}
    await runner.cleanup()


def credentials_for(api: str, emulator_url: str) -> Dict[str, Any]:
    if api == "current":
        keys: Dict[str, Any] = {"api_key": API_KEY}
    else:
        keys = {"api": "legacy", "api_key": None, "authorization_key": LEGACY_KEY,
                "secret_key": LEGACY_SECRET, "sender_name": "bot@imsg.co"}  # fmt: skip
    return {**keys, "base_url": emulator_url, "typing_seconds": "3", "max_retries": "0"}


@pytest.mark.parametrize("api", ["current", "legacy"])
async def test_whole_turns_at_debug_log_no_secret_no_contact_and_fetch_no_inbound_url(
    api: Api, cdn: Dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: aiohttp, sanic, asyncio, httpx too
    emulator = Emulator(EmulatorConfig(
        api=api, webhook_auth=AUTH, api_keys=(API_KEY,), authorization_key=LEGACY_KEY,
        secret_key=LEGACY_SECRET, retry_scale=0.01, delivery_delay=0.0,
    ))  # fmt: skip
    await emulator.start()
    app, channel, bot = make_app(credentials_for(api, emulator.url))

    async def answer(message: Any) -> None:
        bot.messages.append(message)
        await message.output_channel.send_response(
            message.sender_id,
            {"text": "Got it, **thanks**", "image": "https://cdn.example.com/a.png"},
        )

    bot.agent.handle_message.side_effect = answer
    try:
        async with listening(app) as bot_url:
            emulator.dispatcher.webhook_url = bot_url + URL

            def settled(turns: int) -> Callable[[], bool]:
                return lambda: (
                    len(bot.messages) == turns
                    and channel.turns.pending == 0
                    and not emulator.dispatcher._queues
                    and all(m.status != "processing" for m in emulator.store.messages.values())
                )

            photo = f"{cdn['url']}/photo.heic"
            emulator.lifecycle.receive(Inbound(PHONE, PRIVATE_TEXT, attachments=[photo]))
            await until(settled(1), "the first turn", GUARD)
            emulator.faults.fail_next_send = 520 if api == "current" else 560
            emulator.lifecycle.receive(Inbound(EMAIL, PRIVATE_TEXT))  # its reply fails
            await until(settled(3), "the send-failure turn", GUARD)
            emulator.faults.fail_next_delivery = True
            emulator.lifecycle.receive(Inbound(PHONE, "third"))  # its reply is not delivered
            await until(settled(5), "the delivery-failure turn", GUARD)
            async with httpx.AsyncClient() as http:
                for wrong in ("Bearer " + AUTH, AUTH[:-1], AUTH + "x", API_KEY):
                    response = await http.post(bot_url + URL, headers={"Authorization": wrong},
                                               json={"event": "message_inbound", "contact": PHONE})  # fmt: skip
                    assert response.status_code == 401
    finally:
        await emulator.stop()

    texts = [m.text for m in bot.messages]
    assert texts[0] == PRIVATE_TEXT and texts[2].startswith("/imessage_delivery_failed")
    assert texts[4].startswith("/imessage_delivery_failed")
    assert cdn["seen"] == []  # the connector never fetched the user's attachment
    ours = [r for r in caplog.records if not r.name.startswith(STAND_IN_LOGGERS)]
    names = {r.name.split(".")[0] for r in ours}
    # Third-party DEBUG records are captured and checked (httpx: the test's own client).
    assert {"rasa_imessage", "sanic"} <= names and names & {"httpx", "httpcore"}
    logged = "\n".join(_rendered(r) for r in ours)
    reprs = repr(channel.config) + repr(channel.client()) + repr(channel.auth)
    for secret in (API_KEY, AUTH, LEGACY_KEY, LEGACY_SECRET):
        assert secret not in logged and secret not in reprs
    for contact in (PHONE, PHONE[2:], EMAIL, EMAIL.split("@")[0]):
        assert contact not in logged
    above_debug = "\n".join(_rendered(r) for r in ours if r.levelno > logging.DEBUG)
    assert PRIVATE_TEXT not in above_debug  # message text at DEBUG only


def _rendered(record: logging.LogRecord) -> str:
    text = f"{record.name} {record.getMessage()}"
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return text


@pytest.mark.parametrize(
    "url",
    ["http://cdn.example.com/a.png", "file:///etc/passwd", "javascript:alert(1)",
     "https://user:pw@cdn.example.com/a.png", "https://127.0.0.1/a.png",
     "https://169.254.169.254/latest/meta-data", "https://cdn.example.com/" + "a" * 300],
)  # fmt: skip
async def test_outbound_attachment_urls_are_validated_before_any_send(
    url: str, lm: LoopMessageStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    # The channel's config names no base_url, so LoopMessage's own URL rules apply (a
    # loopback base_url, the emulator's, would admit loopback URLs); its client is given
    # and sends to the stand-in.
    client = LoopMessageClient(ClientConfig(api_key=SecretStr(KIT_API_KEY), base_url=lm.url))
    options = {"typing_seconds": "0", "mark_read": "false"}
    app, channel, bot = make_app(options, client=client)
    assert channel.config.base_url is None
    bot.reply = [{"text": None, "image": url}, {"text": None, "attachment": url},
                 {"custom": {"attachments": [url]}}, {"custom": {"media_url": url}},
                 {"text": None, "image": "https://cdn.example.com/fine.png"}]  # fmt: skip
    lm.post(SEND_PATH).respond(200, json={"message_id": "O"})
    try:
        async with served(app) as http:
            assert (await send_webhook(http, inbound())).status_code == 200
            await channel.turns.join()
    finally:
        await client.aclose()  # a client passed in is the caller's to close
    sent = lm.sends()
    assert len(bot.messages) == 1
    assert {call.path for call in lm.calls} == {SEND_PATH}  # sends only, no other call
    assert [body["attachments"] for body in sent] == [["https://cdn.example.com/fine.png"]]
    refusals = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert len(refusals) == 4  # one line per refused response
    assert all(url not in line for line in refusals)  # a signed URL is not echoed


async def test_the_webhook_fetches_nothing_it_is_given(lm: LoopMessageStandIn) -> None:
    app, channel, bot = make_app({"typing_seconds": "2"}, lm=lm)
    bot.reply = []
    lm.post(TYPING_PATH).respond(200, json={})
    # The URLs in the webhooks point at a second loopback server that records any request.
    async with LoopMessageStandIn() as other:
        attacker = other.url
        async with served(app) as http:
            for body in (
                inbound("", attachments=[f"{attacker}/a.png", f"{attacker}/b.mov"], webhook_id="A"),
                inbound("", message_type="audio", attachments=[f"{attacker}/n.caf"], webhook_id="B",
                        speech={"text": "hi", "metadata": {"url": f"{attacker}/s"}}),
                inbound("hi", group={"id": "G", "name": f"{attacker}/g",
                                     "participants": [PHONE, f"{attacker}/p"]}, webhook_id="C"),
            ):  # fmt: skip
                assert (await send_webhook(http, body)).status_code == 200
            await channel.turns.join()
            await asyncio.gather(*channel.conversations.side_tasks)
    assert len(bot.messages) == 3
    assert other.calls == []
    assert lm.calls and {call.path for call in lm.calls} == {TYPING_PATH}  # nothing else


# -- user text cannot become an intent or entities ---------------------------------------------


INTENTS = ["restart", "greet", "imessage_attachment", "imessage_reaction",
           "imessage_conversation_started", "imessage_call"]  # fmt: skip
# Our synthetic intents' entities only: any other entity smuggled in would make Rasa warn,
# and warnings are errors in this suite.
ENTITIES = ["attachment_url", "attachment_kind", "attachment_count", "reaction", "message_id",
            "contact", "text"]  # fmt: skip


def _rasa_unpack(text: str) -> Any:
    """What Rasa itself reads from a message text (`/intent{entities}` or plain text)."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.nlu.training_data.message import Message

    domain = Domain.from_dict({"intents": INTENTS, "entities": ENTITIES})
    return YAMLStoryReader.unpack_regex_message(Message(data={"text": text}), domain=domain)


CONFIG = load_config({"api_key": "k", "webhook_auth": "s"})
SNEAKY = st.one_of(
    st.text(max_size=40),
    st.builds(lambda pad, body: pad + body,
              st.text(st.sampled_from(" \t\n\u3000\u00a0\u2028/"), max_size=4),
              st.sampled_from(['/restart', '/greet{"name": "x"}', "//restart", "/ /greet@0.9",
                               '/imessage_reaction{"reaction": "love"}'])),
)  # fmt: skip
FUZZ = settings(max_examples=150, deadline=None, derandomize=FIXED_FUZZ,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


@FUZZ
@given(text=SNEAKY)
def test_typed_text_never_reaches_rasa_as_an_intent(text: str) -> None:
    event = parse_webhook(json.dumps(inbound(text)))
    turn = to_turn(event, CONFIG)
    if turn is None or turn.synthetic:  # no text: an attachment intent of our making
        return
    unpacked = _rasa_unpack(turn.text)
    assert unpacked.get("intent") is None and not unpacked.get("entities")
    assert not turn.text.strip().startswith("/")


@FUZZ
@given(
    field=st.sampled_from(["attachments", "reaction", "opt_in_text"]),
    value=st.text(max_size=40) | st.sampled_from(['"}', '{"x":1}', '@0.5{"a":"b"}', '", "e": "f']),
)
def test_synthetic_intents_carry_exactly_their_own_entities(field: str, value: str) -> None:
    entities: Dict[str, Any]
    if field == "attachments":
        body = inbound("", attachments=[value or "x"])
        intent, entities = "imessage_attachment", {"attachment_url": value or "x"}
    elif field == "reaction":
        body = {"event": "message_reaction", "contact": PHONE, "reaction": value or "x",
                "message_id": "O1", "webhook_id": "W"}  # fmt: skip
        intent, entities = "imessage_reaction", {"reaction": value or "x"}
    else:
        body = inbound(value, type="opt_in")
        intent, entities = "imessage_conversation_started", {"text": value or None}
    turn = to_turn(parse_webhook(json.dumps(body)), CONFIG)
    assert turn is not None
    unpacked = _rasa_unpack(turn.text)
    assert unpacked.get("intent")["name"] == intent
    found = {e["entity"]: e["value"] for e in unpacked.get("entities") or []}
    for key, expected in entities.items():
        assert found.get(key) == expected
    assert set(found) <= set(ENTITIES)


@pytest.mark.parametrize(
    "body",
    [
        {"event": "inbound_call", "contact": PHONE, "webhook_id": "W", "sender": "S"},
        {"alert_type": "inbound_call", "recipient": PHONE, "webhook_id": "W"},
    ],
)
def test_a_call_reaches_rasa_as_its_intent_with_no_entities(body: Dict[str, Any]) -> None:
    """An intent with no entities is `/name`: Rasa's own pattern reads `/name{}` as no intent."""
    turn = to_turn(parse_webhook(json.dumps(body)), CONFIG)
    assert turn is not None and turn.text == "/imessage_call"
    unpacked = _rasa_unpack(turn.text)
    assert unpacked.get("intent")["name"] == "imessage_call"
    assert not unpacked.get("entities")
