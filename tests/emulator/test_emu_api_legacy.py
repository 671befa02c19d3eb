"""The legacy LoopMessage API (server.loopmessage.com) as the emulator serves it."""

from __future__ import annotations

import pytest

LEGACY_KEYS = {"Authorization": "emulator-auth", "Loop-Secret-Key": "emulator-secret"}
ALICE = "+13231112233"
SENDER = {"sender_name": "bot@imsg.co"}


@pytest.fixture
async def emu(make_emulator, receiver):
    return await make_emulator(api="legacy", webhook_url=receiver.url)


async def send(http, emu, body, headers=LEGACY_KEYS):
    return await http.post(f"{emu.url}/api/v1/message/send/", json=body, headers=headers)


async def opt_in(emu, dev, receiver):
    message = await dev.say(emu, ALICE, "hello")
    hook = await receiver.next("message_inbound")
    return message, hook


async def test_inbound_webhook_has_the_legacy_shape(emu, dev, receiver):
    message, hook = await opt_in(emu, dev, receiver)
    body = hook.body
    assert body["alert_type"] == "message_inbound"
    assert "event" not in body and "contact" not in body
    assert body["recipient"] == ALICE
    assert body["delivery_type"] == "imessage"
    assert body["sender_name"] == "bot@imsg.co"
    assert body["message_id"] == message["id"]
    assert hook.headers["User-Agent"] == "LoopServer"


async def test_send_is_scheduled_then_sent_and_status_says_sent(emu, http, dev, receiver):
    await opt_in(emu, dev, receiver)
    response = await send(
        http, emu, {"recipient": ALICE, "text": "Hi!", "passthrough": "req-77", **SENDER}
    )
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "message_id": body["message_id"],
        "success": True,
        "recipient": ALICE,
        "text": "Hi!",
    }
    scheduled = await receiver.next()
    sent = await receiver.next()
    assert scheduled.body["alert_type"] == "message_scheduled"
    assert (sent.body["alert_type"], sent.body["success"]) == ("message_sent", True)
    assert sent.body["passthrough"] == "req-77"
    status = await http.get(
        f"{emu.url}/api/v1/message/status/{body['message_id']}/", headers=LEGACY_KEYS
    )
    assert status.json()["status"] == "sent"
    assert status.json()["recipient"] == ALICE
    assert status.json()["sandbox"] is False
    assert status.json()["passthrough"] == "req-77"


async def test_failed_delivery_is_message_sent_with_success_false(emu, http, dev, receiver):
    await opt_in(emu, dev, receiver)
    await dev.faults(emu, fail_next_delivery=True)
    response = await send(http, emu, {"recipient": ALICE, "text": "Hi!", **SENDER})
    sent = await receiver.next("message_sent")
    assert sent.body["success"] is False
    assert emu.store.messages[response.json()["message_id"]].status == "failed"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 110),
        ({"Authorization": "emulator-auth"}, 110),
        ({"Authorization": "wrong", "Loop-Secret-Key": "emulator-secret"}, 125),
        ({"Authorization": "emulator-auth", "Loop-Secret-Key": "wrong"}, 130),
    ],
)
async def test_auth_failures_use_legacy_codes(emu, http, headers, code):
    response = await send(http, emu, {"recipient": ALICE, "text": "x", **SENDER}, headers=headers)
    assert (response.status_code, response.json()["code"]) == (400, code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": "x", **SENDER}, 150),
        ({"recipient": ALICE, "text": "x"}, 210),
        ({"recipient": "+447700900123", "text": "x", **SENDER}, 560),
        (
            {
                "recipient": ALICE,
                "text": "x",
                "attachments": ["https://c.example.com/a.png"] * 4,
                **SENDER,
            },
            100,
        ),
        ({"recipient": ALICE, "message_id": "X", "reaction": "emphasize", **SENDER}, 600),
        ({"recipient": ALICE, "text": "v", "audio_message": True, **SENDER}, 640),
        ({"group": "NO-SUCH-GROUP", "text": "x", **SENDER}, 100),
        ({"recipient": ALICE, "text": "x", "service": "whatsapp", **SENDER}, 100),
    ],
)
async def test_validation_errors_carry_the_legacy_codes(emu, http, dev, receiver, body, code):
    await opt_in(emu, dev, receiver)
    response = await send(http, emu, body)
    assert (response.status_code, response.json()["code"]) == (400, code)


async def test_exclaim_is_the_legacy_emphasis(emu, http, dev, receiver):
    message, _ = await opt_in(emu, dev, receiver)
    response = await send(
        http,
        emu,
        {
            "recipient": ALICE,
            "text": "",
            "message_id": message["id"],
            "reaction": "-exclaim",
            **SENDER,
        },
    )
    assert response.status_code == 200, response.text
    response = await send(
        http,
        emu,
        {
            "recipient": ALICE,
            "text": "",
            "message_id": message["id"],
            "reaction": "exclaim",
            **SENDER,
        },
    )
    assert emu.store.messages[message["id"]].tapbacks == {"bot": "emphasize"}


async def test_audio_message_is_accepted(emu, http, dev, receiver):
    await opt_in(emu, dev, receiver)
    response = await send(
        http,
        emu,
        {
            "recipient": ALICE,
            "text": "voice note",
            "audio_message": True,
            "media_url": "https://cdn.example.com/n.mp3",
            **SENDER,
        },
    )
    assert response.status_code == 200, response.text


async def test_legacy_has_no_show_typing_and_no_v1_status(emu, http):
    typing = await http.post(f"{emu.url}/api/v1/message/show-typing/", json={}, headers=LEGACY_KEYS)
    assert typing.status_code == 404
    status = await http.get(f"{emu.url}/v1/message/status/X/", headers=LEGACY_KEYS)
    assert status.status_code == 404


async def test_legacy_code_400_is_payment_required(emu, http, dev, receiver):
    await opt_in(emu, dev, receiver)
    await dev.faults(emu, fail_next_send=400)
    response = await send(http, emu, {"recipient": ALICE, "text": "x", **SENDER})
    assert (response.status_code, response.json()["code"]) == (402, 400)


async def test_group_webhook_uses_group_id(emu, dev, receiver, http):
    group = await dev.group(emu, "Crew", ALICE, "+13233332211")
    await dev.say(emu, "+13233332211", "hey", group=group["key"])
    hook = await receiver.next("message_inbound")
    assert hook.body["group"]["group_id"] == group["key"]
    assert hook.body["recipient"] == "+13233332211"
    response = await send(http, emu, {"group": group["key"], "text": "hi", **SENDER})
    assert response.json()["group"]["group_id"] == group["key"]
