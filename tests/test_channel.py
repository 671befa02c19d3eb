"""The channel inside Rasa's own app (`configure_app`), with a stand-in agent.

This is the registration path `rasa run` uses, without a model, so it runs on Rasa Open
Source 3.6 and on Rasa Pro without a licence. LoopMessage's HTTP API is the `lm` stand-in,
a real HTTP server on 127.0.0.1 (tests/lm_standin.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, List, Optional
from unittest.mock import MagicMock

import pytest
from lm_standin import SEND_PATH, TYPING_PATH, LoopMessageStandIn, Reply

rasa_run = pytest.importorskip(
    "rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'"
)
from channel_kit import (  # noqa: E402
    API_KEY,
    AUTH,
    LEGACY,
    QUIET,
    inbound,
    legacy_inbound,
    make_app,
    post,
    send_webhook,
    served,
)

from rasa_imessage.channel import IMessageInput  # noqa: E402
from rasa_imessage.config import ConfigError, load_config  # noqa: E402
from rasa_imessage.metrics import MEDIA_FETCHES, SENDS, WEBHOOKS  # noqa: E402

pytestmark = pytest.mark.rasa


@pytest.fixture
async def lm(lm: LoopMessageStandIn) -> LoopMessageStandIn:
    """The stand-in accepting every send and typing call; a test may change a route."""
    return lm.accept_everything()


def paths(lm: LoopMessageStandIn) -> List[str]:
    return [call.path for call in lm.calls]


def test_routes_are_registered_under_webhooks_imessage() -> None:
    app, _, _ = make_app()
    paths = {route.path for route in app.router.routes}
    assert "webhooks/imessage/webhook" in {p.strip("/") for p in paths}
    assert "webhooks/imessage" in {p.strip("/") for p in paths}


@pytest.mark.parametrize("key", ["rasa_imessage.IMessageInput", "rasa_imessage.LoopMessageInput"])
def test_credentials_key_loads_through_rasa(key: str) -> None:
    from rasa.core.run import _create_single_channel

    channel = _create_single_channel(
        key, {"api_key": "k", "webhook_auth": "s", "typing_seconds": "0"}
    )
    assert channel.name() == "imessage"
    assert channel.config.typing_seconds == 0


def test_bad_credentials_are_named_not_hidden_behind_failed_to_find_class() -> None:
    from rasa.core.run import _create_single_channel

    with pytest.raises(ConfigError, match="typing_secnds"):
        _create_single_channel("rasa_imessage.IMessageInput",
                               {"api_key": "k", "webhook_auth": "s", "typing_secnds": 3})  # fmt: skip


async def test_text_webhook_starts_one_turn_with_the_right_user_message(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app(lm=lm)
    response = await post(app, inbound("hello there"))
    assert response.status == 200 and response.json == {"status": "ok"}
    await channel.turns.join()
    (message,) = bot.messages
    assert message.sender_id == "+13231112233"
    assert message.text == "hello there"
    assert message.message_id == "M-1"
    assert message.input_channel == "imessage"
    assert message.metadata["webhook_id"] == "W-1"
    assert message.output_channel.name() == "imessage"
    (sent,) = lm.sends()
    assert sent["contact"] == "+13231112233" and sent["text"] == "hello"
    assert lm.calls and all(call.headers["Authorization"] == API_KEY for call in lm.calls)
    assert not lm.unrouted


async def test_current_api_shows_typing_and_marks_read_for_the_inbound_message(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, _ = make_app({"typing_seconds": "5", "typing_delay": "0"}, lm=lm)
    await post(app, inbound())
    await channel.turns.join()
    await asyncio.gather(*channel.conversations.side_tasks)
    typing = [call.json for call in lm.post(TYPING_PATH).calls]
    assert typing == [{"message_id": "M-1", "typing": 5, "read": True}]


async def test_legacy_api_answers_typing_and_read_in_the_200_body(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, _ = make_app(LEGACY, lm=lm)
    route = lm.post(SEND_PATH).respond(200, json={"message_id": "O", "success": True})
    response = await post(app, legacy_inbound())
    await channel.turns.join()
    assert (response.status, response.json) == (200, {"status": "ok", "typing": 8, "read": True})
    assert paths(lm) == [SEND_PATH]  # the legacy API has no typing endpoint: nothing else
    sent = route.calls[-1].json
    assert sent["recipient"] == "+13231112233" and sent["sender_name"] == "bot@imsg.co"
    assert route.calls[-1].headers["Authorization"] == "a"
    assert route.calls[-1].headers["Loop-Secret-Key"] == "s"


@pytest.mark.parametrize("auth", [None, "", "wrong", AUTH + " "])
async def test_missing_or_wrong_authorization_is_401_and_starts_nothing(
    auth: Optional[str], lm: LoopMessageStandIn
) -> None:
    app, channel, bot = make_app(lm=lm)
    response = await post(app, inbound(), auth=auth)
    assert response.status == 401 and "Authorization" in response.json["error"]
    assert channel.turns.pending == 0 and not bot.messages
    assert not lm.calls  # no typing indicator, no send


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "JSON"),
        ("[1, 2]", "object"),
        (b"\xff\xfe", "UTF-8"),
        (json.dumps({"event": "message_inbound", "text": "hi", "webhook_id": "W"}), "contact"),
        (json.dumps({"text": "no event"}), "event"),
    ],
)
async def test_bad_bodies_get_400_with_a_one_line_reason(
    body: Any, reason: str, lm: LoopMessageStandIn
) -> None:
    app, _, bot = make_app(lm=lm)
    response = await post(app, body)
    assert response.status == 400
    assert reason.lower() in response.json["error"].lower() and "\n" not in response.json["error"]
    assert not bot.messages and not lm.calls


async def test_oversized_body_is_413(lm: LoopMessageStandIn) -> None:
    app, _, bot = make_app({"max_body_bytes": 2048}, lm=lm)
    response = await post(app, inbound("x" * 4096))
    assert response.status == 413
    assert not bot.messages and not lm.calls


async def test_unknown_events_and_statuses_are_acknowledged_without_a_turn(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app(lm=lm)
    for body in ({"event": "brand_new_event", "webhook_id": "U1", "surprise": {"a": [1]}},
                 {"event": "message_delivered", "contact": "+13231112233", "message_id": "O",
                  "webhook_id": "U2"},
                 {"event": "sender_name_updated", "sender": "S-1", "status": "active",
                  "webhook_id": "U3"}):  # fmt: skip
        assert (await post(app, body)).status == 200
    await channel.turns.join()
    assert not bot.messages
    assert SEND_PATH not in paths(lm)


async def test_the_same_webhook_three_times_runs_one_turn(lm: LoopMessageStandIn) -> None:
    app, channel, bot = make_app(lm=lm)
    first = await post(app, inbound())
    while_running = await post(app, inbound())
    await channel.turns.join()
    after = await post(app, inbound())
    assert first.status == 200
    assert while_running.status in (200, 409)
    assert after.json == {"status": "duplicate"}
    assert len(bot.messages) == 1 and len(lm.sends()) == 1


async def test_a_failed_turn_is_released_so_a_retry_runs_it(lm: LoopMessageStandIn) -> None:
    app, channel, bot = make_app(lm=lm)
    bot.agent.handle_message.side_effect = [RuntimeError("boom"), None]
    await post(app, inbound())
    await channel.turns.join()
    retry = await post(app, inbound())
    await channel.turns.join()
    assert retry.json == {"status": "ok"} and bot.agent.handle_message.await_count == 2


async def test_model_not_loaded_is_503_so_loopmessage_retries(lm: LoopMessageStandIn) -> None:
    app, channel, bot = make_app(lm=lm)
    bot.ready = False
    response = await post(app, inbound())
    assert response.status == 503 and channel.turns.pending == 0
    assert not lm.calls
    bot.ready = True
    assert (await post(app, inbound())).status == 200  # the retry is not mistaken for a duplicate
    await channel.turns.join()
    assert len(bot.messages) == 1 and len(lm.sends()) == 1


async def test_group_messages_are_one_conversation_answered_in_the_group(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app(lm=lm)
    group = {"id": "G-1", "name": "Dinner", "participants": ["+13231112233", "+13233332211"]}
    await post(app, inbound("hi", group=group))
    await channel.turns.join()
    assert bot.messages[0].sender_id == "group:G-1"
    assert bot.messages[0].metadata["speaker"] == "+13231112233"
    (sent,) = lm.sends()
    assert sent["group"] == "G-1" and "contact" not in sent


async def test_group_reply_mention_answers_a_reply_to_one_of_the_bots_latest_messages(
    lm: LoopMessageStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`group_reply: mention` answers a threaded reply to the bot's own message: the
    connector remembers the ids of its latest sends (10000 by default, 2 here), forgetting
    the oldest first."""
    from rasa_imessage import conversations

    monkeypatch.setattr(conversations, "_SENT_IDS_KEPT", 2)
    app, channel, bot = make_app({**QUIET, "group_reply": "mention", "bot_names": "Rasa"},
                                 lm=lm)  # fmt: skip
    sent_ids = iter(f"OUT-{number}" for number in range(1, 4))
    lm.post(SEND_PATH).handle(lambda call: Reply(200, json={"message_id": next(sent_ids)}))
    group = {"id": "G-1", "participants": ["+13231112233", "+13233332211"]}
    bot.reply = [{"text": "one"}, {"text": "two"}, {"text": "three"}]

    def in_group(number: int, text: str, **fields: Any) -> Any:
        return inbound(text, group=group, message_id=f"M-{number}", webhook_id=f"W-{number}",
                       **fields)  # fmt: skip

    async with served(app) as http:
        await send_webhook(http, in_group(1, "Rasa, what's on tonight?"))  # sent OUT-1..3
        await channel.turns.join()
        bot.reply = []
        for body in (
            in_group(2, "and the oldest?", thread_id="OUT-1"),  # forgotten: not answered
            in_group(3, "nice", thread_id="M-1"),  # a reply to a person: not answered
            in_group(4, "and this one?", thread_id="OUT-2"),
            in_group(5, "sounds good", thread_id="OUT-3"),
        ):
            await send_webhook(http, body)
        await channel.turns.join()
    assert [message.message_id for message in bot.messages] == ["M-1", "M-4", "M-5"]


async def test_contacts_off_the_lists_get_no_turn_no_typing_and_no_read_receipt(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app(
        {"typing_delay": "0", "metrics": "true", "allowed_contacts": "+1 323 111 2233",
         "blocked_contacts": "group:G-SPAM"},
        lm=lm,
    )  # fmt: skip
    stranger = inbound("hi", contact="+447700900123", webhook_id="W-S", message_id="M-S")
    in_spam_group = inbound("hi", webhook_id="W-G", message_id="M-G",
                            group={"id": "G-SPAM", "participants": ["+13231112233"]})  # fmt: skip
    async with served(app) as http:
        for body in (stranger, in_spam_group):
            response = await send_webhook(http, body)
            assert response.status_code == 200 and response.json() == {"status": "ignored"}
        await send_webhook(http, inbound("hi"))
        await channel.turns.join()
        await channel.conversations.stop_side_work()
    assert [message.sender_id for message in bot.messages] == ["+13231112233"]
    assert [call.json.get("message_id") for call in lm.post(TYPING_PATH).calls] == ["M-1"]
    assert [sent["contact"] for sent in lm.sends()] == ["+13231112233"]
    assert channel.metrics.value(WEBHOOKS, "ignored") == 2
    assert channel.metrics.value(WEBHOOKS, "accepted") == 1


async def test_typed_intent_payloads_are_neutralised(lm: LoopMessageStandIn) -> None:
    app, channel, bot = make_app(lm=lm)
    await post(app, inbound('/restart{"x": 1}'))
    await channel.turns.join()
    assert not bot.messages[0].text.startswith("/")


async def test_button_answered_by_number_sends_the_payload(lm: LoopMessageStandIn) -> None:
    app, channel, bot = make_app(lm=lm)
    bot.tracker_events.extend([
        MagicMock(type_name="user"),
        MagicMock(type_name="bot", data={"buttons": [{"title": "Yes", "payload": "/affirm"},
                                                     {"title": "No", "payload": "/deny"}]}),
    ])  # fmt: skip
    await post(app, inbound("2"))
    await channel.turns.join()
    assert bot.messages[0].text == "/deny"


async def test_send_failures_never_escape_into_rasa_and_reach_the_bot_as_an_intent(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app({"max_retries": "0"}, lm=lm)
    send, typing = lm.refuse_sends()
    await post(app, inbound())
    await channel.turns.join()
    assert send.call_count == 2 and typing.called and not lm.unrouted
    texts = [m.text for m in bot.messages]
    assert texts[0] == "hi"
    assert texts[1].startswith('/imessage_delivery_failed{"error_code":520')
    assert len(texts) == 2  # the failure turn's own failed reply does not loop


async def test_metadata_keys_trim_what_rasa_stores_for_webhooks_and_failed_sends(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = make_app({"max_retries": "0", "metadata_keys": "webhook_id, source"}, lm=lm)
    lm.refuse_sends()
    await post(app, inbound())
    await channel.turns.join()
    user, failure = bot.messages
    assert user.metadata == {"webhook_id": "W-1"} and user.message_id == "M-1"
    assert failure.text.startswith("/imessage_delivery_failed")
    assert failure.metadata == {"source": "send"}


async def test_output_channel_works_without_a_request_for_trigger_intent(
    lm: LoopMessageStandIn,
) -> None:
    _, channel, _ = make_app(lm=lm)
    output = channel.get_output_channel()
    try:
        await output.send_response(
            "+13231112233", {"text": "reminder", "image": "https://x.io/a.png"}
        )
        await output.sent()  # queued on the conversation's outbox, sent beside the caller
    finally:
        await channel.client().aclose()  # no server ran, so no stop listener closes it
    (sent,) = lm.sends()
    assert sent == {"contact": "+13231112233", "text": "reminder",
                    "attachments": ["https://x.io/a.png"], "passthrough": sent["passthrough"]}  # fmt: skip


BUTTONS = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
ELEMENT = {"title": "Tea", "subtitle": "hot", "image_url": "https://x.io/t.png"}


@pytest.mark.parametrize(
    ("method", "arguments", "message"),
    [
        ("send_text_message", ("hello",), {"text": "hello"}),
        ("send_image_url", ("https://x.io/a.png",), {"image": "https://x.io/a.png"}),
        ("send_attachment", ("https://x.io/a.pdf",), {"attachment": "https://x.io/a.pdf"}),
        ("send_text_with_buttons", ("pick", BUTTONS), {"text": "pick", "buttons": BUTTONS}),
        ("send_quick_replies", ("pick", BUTTONS), {"text": "pick", "quick_replies": BUTTONS}),
        ("send_elements", ([ELEMENT],), {"elements": [ELEMENT]}),
        ("send_custom_json", ({"text": "x", "effect": "slam"},),
         {"custom": {"text": "x", "effect": "slam"}}),
    ],
)  # fmt: skip
async def test_rasas_output_channel_methods_send_what_the_same_response_sends(
    lm: LoopMessageStandIn, method: str, arguments: Any, message: Any
) -> None:
    """Code that calls the output channel directly (Rasa's own, or a bot's) gets the same
    sends as a response with the same content."""
    _, channel, _ = make_app(lm=lm)
    output = channel.get_output_channel()
    try:
        await getattr(output, method)("+13231112233", *arguments)
        await output.sent()
        direct = [_without_passthrough(sent) for sent in lm.sends()]
        lm.calls.clear()
        await output.send_response("+13231112233", message)
        await output.sent()
        as_response = [_without_passthrough(sent) for sent in lm.sends()]
    finally:
        await channel.client().aclose()  # no server ran, so no stop listener closes it
    assert direct and direct == as_response


def _without_passthrough(sent: Any) -> Any:
    return {key: value for key, value in sent.items() if key != "passthrough"}


async def test_health_route_reports_the_channel() -> None:
    app, _, _ = make_app()
    _, response = await app.asgi_client.get("/webhooks/imessage/")
    assert response.status == 200
    assert response.json["channel"] == "imessage" and response.json["webhook_auth"] is True


async def test_no_secret_reaches_the_logs_even_at_debug(
    lm: LoopMessageStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the stand-in's own server log lines are checked too
    app, channel, _ = make_app(lm=lm)
    await post(app, inbound("my secret message text"))
    await post(app, inbound(), auth="wrong-" + AUTH)
    await channel.turns.join()
    assert len(lm.sends()) == 1  # a whole turn ran, its reply sent
    logged = "\n".join(r.getMessage() for r in caplog.records) + repr(channel.config)
    assert AUTH not in logged and API_KEY not in logged
    assert "+13231112233" not in logged  # contacts are masked
    assert len(caplog.records) > 3


def test_unauthenticated_webhooks_need_an_explicit_switch(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match="webhook_auth"):
        load_config({"api_key": "k"})
    IMessageInput(load_config({"api_key": "k", "allow_unauthenticated_webhooks": "true"}))
    assert "NOT authenticated" in caplog.text


async def test_by_default_256_conversations_wait_on_the_action_server_at_once(
    lm: LoopMessageStandIn,
) -> None:
    """A turn waiting on a custom action holds a place: with 8 places, a 300 ms action
    capped throughput at 16 turns/s where REST ran 22-26, and with 64 places a quick one at
    about 190 turns/s where REST ran 281 (BENCHMARKS.md, section 1d)."""
    places = 256
    app, channel, bot = make_app(lm=lm)
    action_server_answers = asyncio.Event()
    waiting: List[str] = []

    async def turn_with_a_custom_action(message: Any) -> None:
        waiting.append(message.sender_id)
        await action_server_answers.wait()
        await message.output_channel.send_response(message.sender_id, {"text": "done"})

    bot.agent.handle_message.side_effect = turn_with_a_custom_action
    contacts = [f"+1323555{index:04d}" for index in range(places + 6)]
    async with served(app) as http:
        for index, contact in enumerate(contacts):
            body = inbound(contact=contact, message_id=f"M-{index}", webhook_id=f"W-{index}")
            assert (await send_webhook(http, body)).status_code == 200
        for _ in range(500):  # the turns start in the background
            if len(waiting) >= places:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # time for one more to start, were it let in
        assert len(waiting) == places and channel.turns.pending == len(contacts)
        action_server_answers.set()
        await channel.turns.join()
    assert sorted(waiting) == contacts
    assert sorted(sent["contact"] for sent in lm.sends()) == contacts


async def test_the_bots_own_files_are_sent_as_urls_this_server_answers(
    lm: LoopMessageStandIn, tmp_path: Any
) -> None:
    """`public_url`: a made picture (data: URL) and a file from `media_dir` go out as URLs
    under /webhooks/imessage/media/, which the same server then serves; others get 404."""
    import base64

    picture = b"\x89PNG\r\n\x1a\n-a-chart"
    (tmp_path / "menu 100%.pdf").write_bytes(b"%PDF-1.4 menu")  # percent-encoded, decoded once
    app, channel, bot = make_app(
        {**QUIET, "public_url": "http://127.0.0.1:5004", "media_dir": str(tmp_path)}, lm=lm
    )
    made = "data:image/png;base64," + base64.b64encode(picture).decode()
    bot.reply = [
        {"text": "Your chart:", "image": made},
        {"text": None, "attachment": "menu 100%.pdf"},
    ]
    async with served(app) as http:
        await send_webhook(http, inbound("chart please"))
        await channel.turns.join()
        await channel.conversations.stop_side_work()
        urls = [url for sent in lm.sends() for url in sent.get("attachments", [])]
        assert [url.rsplit(".", 1)[-1] for url in urls] == ["png", "pdf"]
        assert all(url.startswith("http://127.0.0.1:5004/webhooks/imessage/media/") for url in urls)
        chart, menu = [await http.get(url) for url in urls]
        assert (chart.status_code, chart.headers["content-type"], chart.content) == (
            200, "image/png", picture)  # fmt: skip
        assert chart.headers["x-content-type-options"] == "nosniff"
        assert (menu.status_code, menu.headers["content-type"], menu.content) == (
            200, "application/pdf", b"%PDF-1.4 menu")  # fmt: skip
        head = await http.head(urls[1])
        assert head.status_code == 200 and head.content == b""
        signed, _ = urls[1].rsplit("/", 1)
        wrongs = (
            urls[1].replace("/f/", "/d/"),  # tampered kind
            signed + "/%2E%2E%2Fcredentials.yml",  # out of the folder
            signed.rsplit("/", 1)[0] + "/%C3%A9/menu.pdf",  # a signature that is not ASCII
            signed + "/%FF%FE.pdf",  # a name that is not UTF-8
        )
        for wrong in wrongs:
            response = await http.get(wrong)
            assert response.status_code == 404 and response.json() == {"error": "not found"}
        (tmp_path / "menu 100%.pdf").unlink()  # gone since it was sent: 404, not a 500
        assert (await http.get(urls[1])).status_code == 404
    # served: the chart, the menu, its HEAD; not found: the four wrong URLs, the menu gone
    assert channel.metrics.value(MEDIA_FETCHES, "served") == 3
    assert channel.metrics.value(MEDIA_FETCHES, "not_found") == 5


async def test_the_bots_own_files_answer_a_range_as_browsers_ask_for_audio_and_video(
    lm: LoopMessageStandIn, tmp_path: Any
) -> None:
    """One range gets 206 with its bytes (Safari plays a video only so); past the end, 416;
    several ranges, the whole file. A `data:` file answers the same."""
    import base64

    clip = bytes(range(200)) * 5  # 1000 bytes
    (tmp_path / "clip.mp4").write_bytes(clip)
    app, channel, bot = make_app(
        {**QUIET, "public_url": "http://127.0.0.1:5004", "media_dir": str(tmp_path)}, lm=lm
    )
    bot.reply = [
        {"text": None, "attachment": "clip.mp4"},
        {"text": None, "attachment": "data:audio/mpeg;base64," + base64.b64encode(clip).decode()},
    ]
    async with served(app) as http:
        await send_webhook(http, inbound("the clip"))
        await channel.turns.join()
        await channel.conversations.stop_side_work()
        sends = lm.sends()
        urls = [*sends[0]["attachments"], sends[1]["media_url"]]  # the mp3: a voice message
        for url in urls:
            whole = await http.get(url)
            assert (whole.status_code, whole.content) == (200, clip)
            assert whole.headers["accept-ranges"] == "bytes"
            part = await http.get(url, headers={"Range": "bytes=100-199"})
            assert (part.status_code, part.content) == (206, clip[100:200])
            assert part.headers["content-range"] == "bytes 100-199/1000"
            tail = await http.get(url, headers={"Range": "bytes=-10"})
            assert (tail.status_code, tail.content) == (206, clip[-10:])
            past = await http.get(url, headers={"Range": "bytes=1000-"})
            assert (past.status_code, past.headers["content-range"]) == (416, "bytes */1000")
            several = await http.get(url, headers={"Range": "bytes=0-1,5-6"})
            assert (several.status_code, several.content) == (200, clip)
    assert channel.metrics.value(MEDIA_FETCHES, "served") == 2 * 4
    assert channel.metrics.value(MEDIA_FETCHES, "bad_range") == 2
    assert channel.metrics.value(MEDIA_FETCHES, "not_found") == 0


@pytest.mark.parametrize(("public_url", "routes"), [(None, 0), ("http://127.0.0.1:5004", 1)])
async def test_the_media_route_is_there_only_with_public_url(
    lm: LoopMessageStandIn, public_url: Optional[str], routes: int
) -> None:
    app, _, _ = make_app({**QUIET, "public_url": public_url}, lm=lm)
    assert len([route for route in app.router.routes_all if "media" in route]) == routes


async def test_replicas_find_a_made_picture_in_the_shared_redis(
    lm: LoopMessageStandIn, redis_url: str, raw: Any
) -> None:
    """With `dedupe_store` on Redis, a `data:` file goes there before its send, so the
    replica LoopMessage's fetch reaches (here: a second app) serves it too."""
    import base64

    from rasa_imessage.redis_media import RedisMedia

    picture = b"\x89PNG\r\n\x1a\n-shared"
    settings = {**QUIET, "public_url": "http://127.0.0.1:5004", "dedupe_store": redis_url}
    app, channel, bot = make_app(settings, lm=lm)
    other, _, _ = make_app(settings, lm=lm)
    bot.reply = [
        {"text": "chart", "image": "data:image/png;base64," + base64.b64encode(picture).decode()}
    ]
    async with served(app) as http:
        await send_webhook(http, inbound("chart please"))
        await channel.turns.join()
        await channel.conversations.stop_side_work()
    ((url,),) = [sent["attachments"] for sent in lm.sends()]
    assert await raw.exists(RedisMedia.prefix + url.rsplit("/", 1)[1]) == 1
    async with served(other) as http:
        fetched = await http.get(url)
    assert (fetched.status_code, fetched.content) == (200, picture)


async def test_bubble_pause_spaces_a_turns_bubbles_and_a_failure_stops_the_rest(
    lm: LoopMessageStandIn,
) -> None:
    """`bubble_pause`: each bubble after the turn's first waits the pause after the one
    before was accepted, across the turn's responses; a refused bubble stops the rest of
    its response, as without a pause."""
    settings = {**QUIET, "bubble_pause": "0.3", "delivery_failed_intent": "false"}
    app, channel, bot = make_app(settings, lm=lm)
    bot.reply = [{"text": "one\n\ntwo"}, {"text": "three"}]
    async with served(app) as http:
        await send_webhook(http, inbound("hi"))
        await channel.turns.join()
        sends = lm.post(SEND_PATH).calls
        assert [call.json["text"] for call in sends] == ["one", "two", "three"]
        gaps = [later.received - earlier.received for earlier, later in zip(sends, sends[1:])]
        assert all(gap >= 0.29 for gap in gaps), gaps  # a pause never ends early
        refused = Reply(400, json={"success": False, "code": 520, "message": "x"})
        lm.post(SEND_PATH).queue(Reply(200, json={"message_id": "OUT-2"}), refused)
        bot.reply = [{"text": "a\n\nb\n\nc"}]
        await send_webhook(http, inbound("again", message_id="M-2", webhook_id="W-2"))
        await channel.turns.join()
        await channel.conversations.stop_side_work()
    texts = [call.json["text"] for call in lm.post(SEND_PATH).calls]
    assert texts == ["one", "two", "three", "a", "b"]  # "c" never tried
    assert channel.metrics.value(SENDS, "failed") == 1
    assert channel.metrics.value(SENDS, "skipped") == 1


@pytest.mark.parametrize("typing_seconds", [8, 1, 0])
async def test_bubble_pause_shows_typing_in_each_pause_before_the_next_bubble(
    lm: LoopMessageStandIn, typing_seconds: int
) -> None:
    """A bubble landing hides "typing…", so each pause shows it again for the message
    answered; its call lands before the next bubble is sent. With the indicator off
    (`typing_seconds: 0`) the pauses stay and show nothing."""
    settings = {"bubble_pause": "0.3", "typing_seconds": str(typing_seconds), "mark_read": "false"}
    app, channel, bot = make_app(settings, lm=lm)
    bot.reply = [{"text": "one\n\ntwo"}, {"text": "three"}]
    async with served(app) as http:
        await send_webhook(http, inbound("hi"))
        await channel.turns.join()
        await channel.conversations.stop_side_work()
    sends, typing = lm.post(SEND_PATH).calls, lm.post(TYPING_PATH).calls
    assert [call.json["text"] for call in sends] == ["one", "two", "three"]
    if not typing_seconds:
        assert typing == []
        return
    # the quick first reply needed no indicator; each pause has one, for M-1, not a read
    assert [call.json for call in typing] == [{"message_id": "M-1", "read": False, "typing": 1}] * 2
    for shown, before, after in zip(typing, sends, sends[1:]):
        assert before.received < shown.received < after.received


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_bubble_pauses_do_not_count_as_a_slow_loopmessage(
    lm: LoopMessageStandIn, store: str, request: pytest.FixtureRequest, monkeypatch: Any
) -> None:
    """A paced response takes longer than LoopMessage's 'answered in time' bound, but its
    pauses are not LoopMessage's: lending stays on (one process: the wait for the outbox;
    replicas, no outbox: the sends inside the turn), and the turn's place is lent meanwhile."""
    from rasa_imessage import lending

    monkeypatch.setattr(lending, "HEALTHY_WAIT", 0.5)  # shorter than the paced response
    dedupe = request.getfixturevalue("redis_url") if store == "redis" else "memory"
    settings = {**QUIET, "bubble_pause": "0.3", "max_concurrent_turns": "1",
                "dedupe_store": dedupe}  # fmt: skip
    app, channel, bot = make_app(settings, lm=lm)
    bot.reply = [{"text": "one\n\ntwo\n\nthree"}]
    async with served(app) as http:
        channel.turns._gate.lending = True  # LoopMessage answered in time before
        await send_webhook(http, inbound("hi"))
        await send_webhook(http, inbound("hi", contact="+14155550100", webhook_id="W-2",
                                         message_id="M-2"))  # fmt: skip
        await channel.turns.join()
        await channel.conversations.stop_side_work()
        assert channel.turns._gate.lending  # the sends were quick; the pauses were pauses
    order = [(call.json["contact"], call.json["text"]) for call in lm.post(SEND_PATH).calls]
    # one place only, yet the second contact's turn ran during the first one's pauses
    assert order.index(("+14155550100", "one")) < order.index(("+13231112233", "three"))


@pytest.mark.parametrize("bubble_pause", ["0", "0.2"])
async def test_a_slow_loopmessage_stops_lending_when_replies_go_through_the_outbox(
    lm: LoopMessageStandIn, bubble_pause: str, monkeypatch: Any
) -> None:
    """One process sends a turn's replies from the outbox, outside the turn. A slow send
    there must still stop the lending, paced or not (paced, the turn's own wait for the
    outbox is an idle wait, which judges nothing)."""
    from lm_standin import Reply, Stall

    from rasa_imessage import lending

    monkeypatch.setattr(lending, "HEALTHY_WAIT", 0.3)
    lm.post(SEND_PATH).handle(lambda call: Stall(0.5, Reply(200, json={"message_id": "OUT-1"})))
    app, channel, bot = make_app({**QUIET, "bubble_pause": bubble_pause}, lm=lm)
    bot.reply = [{"text": "one"}]
    async with served(app) as http:
        channel.turns._gate.lending = True  # LoopMessage answered in time before
        await send_webhook(http, inbound("hi"))
        await channel.turns.join()
        await channel.conversations.stop_side_work()
        assert [sent["text"] for sent in lm.sends()] == ["one"]
        assert channel.turns._gate.lending is False
