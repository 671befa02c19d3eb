"""The current LoopMessage API (a.loopmessage.com) as the emulator serves it."""

from __future__ import annotations

import re

import httpx
import pytest

CURRENT_KEY = {"Authorization": "emulator-key"}
UUID_UPPER = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")
ALICE = "+13231112233"


@pytest.fixture
async def emu(make_emulator, receiver):
    return await make_emulator(webhook_url=receiver.url, webhook_auth="hook-secret")


async def send(http: httpx.AsyncClient, emu, body, headers=CURRENT_KEY) -> httpx.Response:
    return await http.post(f"{emu.url}/api/v1/message/send/", json=body, headers=headers)


async def test_send_text_is_queued_then_delivered_with_passthrough(emu, http, dev, receiver):
    await dev.say(emu, ALICE, "hi")
    await receiver.next("message_inbound")

    response = await send(
        http,
        emu,
        {
            "contact": "+1 (323) 111-2233",
            "text": "Hello 🍽️",
            "passthrough": "order-7",
            "effect": "confetti",
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert UUID_UPPER.fullmatch(body["message_id"])
    assert body == {"message_id": body["message_id"], "contact": ALICE, "text": "Hello 🍽️"}
    hook = await receiver.next("message_delivered")
    assert hook.body["message_id"] == body["message_id"]
    assert hook.body["passthrough"] == "order-7"
    assert hook.body["contact"] == ALICE
    for path in ("/v1/message/status/", "/api/v1/message/status/"):
        status = await http.get(f"{emu.url}{path}{body['message_id']}/", headers=CURRENT_KEY)
        assert status.status_code == 200
        assert status.json()["status"] == "delivered"
        assert status.json()["contact"] == ALICE
        assert status.json()["last_update"].endswith("Z")


@pytest.mark.parametrize(
    "written", ["13231234567", "+1 (323) 123-4567", "1 (323)-123-4567", "+1 323 123 4567"]
)
async def test_phone_numbers_are_normalised_to_e164(emu, http, dev, written):
    await dev.say(emu, "+13231234567", "hi")
    response = await send(http, emu, {"contact": written, "text": "ok"})
    assert response.status_code == 200, response.text
    assert response.json()["contact"] == "+13231234567"


async def test_emails_are_lowercased(emu, http, dev):
    await dev.say(emu, "Someone@iCloud.com", "hi")
    response = await send(http, emu, {"contact": "SOMEONE@icloud.com", "text": "ok"})
    assert response.json()["contact"] == "someone@icloud.com"


async def _opted_in(emu, dev, receiver):
    message = await dev.say(emu, ALICE, "hi")
    await receiver.next("message_inbound")
    return message


LONG_URL = "https://cdn.example.com/" + "a" * 240


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": "x"}, 150),
        ({"contact": ALICE}, 140),
        ({"contact": ALICE, "text": "  "}, 140),
        ({"contact": "12", "text": "x"}, 180),
        ({"contact": "not-an-email@", "text": "x"}, 170),
        ({"group": "NO-SUCH-GROUP", "text": "x"}, 165),
        ({"contact": ALICE, "text": "x", "effect": "sparkles"}, 580),
        ({"contact": ALICE, "message_id": "X", "reaction": "hug"}, 600),
        ({"contact": ALICE, "message_id": "X", "reaction": "love", "effect": "slam"}, 620),
        ({"contact": ALICE, "message_id": "NOPE", "reaction": "love"}, 610),
        ({"contact": ALICE, "media_url": ""}, 640),
        ({"contact": "bob@icloud.com", "text": "x", "channel": "sms"}, 1110),
        ({"contact": ALICE, "media_url": "https://cdn.example.com/a.m4a", "channel": "sms"}, 1140),
        ({"contact": "+447700900123", "text": "x"}, 520),
        ({"contact": ALICE, "text": "x", "attachments": ["https://c.example.com/1.png"] * 6}, 125),
        ({"contact": ALICE, "text": "x", "attachments": ["http://cdn.example.com/1.png"]}, 125),
        ({"contact": ALICE, "text": "x", "attachments": [LONG_URL]}, 125),
        ({"contact": ALICE, "text": "x", "passthrough": "p" * 1001}, 125),
        ({"contact": ALICE, "text": "x", "reply_to_id": "NOPE"}, 590),
        ({"contact": ALICE, "text": 5}, 125),
        (["not", "an", "object"], 100),
    ],
)
async def test_validation_errors_carry_the_current_codes(emu, http, dev, receiver, body, code):
    await _opted_in(emu, dev, receiver)
    response = await send(http, emu, body)
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["code"] == code
    assert response.json()["message"]


async def test_sms_to_a_group_is_1120(emu, http, dev, receiver):
    group = await dev.group(emu, "Crew", ALICE, "+13233332211")
    await dev.say(emu, ALICE, "hi all", group=group["key"])
    response = await send(http, emu, {"group": group["key"], "text": "x", "channel": "sms"})
    assert response.json()["code"] == 1120


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 110),
        ({"Authorization": ""}, 110),
        ({"Authorization": "wrong"}, 130),
        ({"Authorization": "Bearer emulator-key"}, 130),
    ],
)
async def test_auth_failures(emu, http, headers, code):
    response = await send(http, emu, {"contact": ALICE, "text": "x"}, headers=headers)
    assert (response.status_code, response.json()["code"]) == (400, code)


async def test_invalid_json_is_code_100(emu, http):
    response = await http.post(
        f"{emu.url}/api/v1/message/send/", content=b"{nope", headers=CURRENT_KEY
    )
    assert (response.status_code, response.json()["code"]) == (400, 100)


async def test_status_of_unknown_id_is_404_and_bad_key_is_error_code(emu, http):
    unknown = await http.get(f"{emu.url}/v1/message/status/NOPE/", headers=CURRENT_KEY)
    assert unknown.status_code == 404
    bad = await http.get(f"{emu.url}/v1/message/status/NOPE/", headers={"Authorization": "x"})
    assert bad.status_code == 400
    assert bad.json()["error_code"] == 130


async def test_attachments_up_to_five_and_loopback_http_uploads(emu, http, dev, receiver):
    await _opted_in(emu, dev, receiver)
    upload = await http.post(
        f"{emu.url}/emulator/files", files={"file": ("menu.png", b"\x89PNG fake", "image/png")}
    )
    url = upload.json()["url"]
    assert url.startswith(f"{emu.url}/files/")
    attachments = [url] + ["https://cdn.example.com/p.png"] * 4
    response = await send(http, emu, {"contact": ALICE, "text": "", "attachments": attachments})
    assert response.status_code == 400  # text is still required
    response = await send(http, emu, {"contact": ALICE, "text": "menu", "attachments": attachments})
    assert response.status_code == 200, response.text
    message = emu.store.messages[response.json()["message_id"]]
    assert message.attachments == attachments
    served = await http.get(url)
    assert served.content == b"\x89PNG fake"
    assert served.headers["content-type"] == "image/png"
    # one range, as a player asks: 206 with that part; past the end, 416
    part = await http.get(url, headers={"Range": "bytes=1-3"})
    assert (part.status_code, part.content, part.headers["content-range"]) == (
        206, b"PNG", "bytes 1-3/9")  # fmt: skip
    past = await http.get(url, headers={"Range": "bytes=9-"})
    assert (past.status_code, past.headers["content-range"]) == (416, "bytes */9")


async def test_voice_send_answers_with_recipient(emu, http, dev, receiver):
    await _opted_in(emu, dev, receiver)
    response = await send(http, emu, {"contact": ALICE, "media_url": "https://c.example.com/n.m4a"})
    assert response.status_code == 200
    assert response.json()["recipient"] == ALICE
    assert emu.store.messages[response.json()["message_id"]].media_url.endswith("n.m4a")


async def test_reaction_puts_a_tapback_on_the_persons_message(emu, http, dev, receiver):
    said = await _opted_in(emu, dev, receiver)
    response = await send(
        http, emu, {"contact": ALICE, "message_id": said["id"], "reaction": "emphasize"}
    )
    assert response.status_code == 200, response.text
    assert emu.store.messages[said["id"]].tapbacks == {"bot": "emphasize"}
    await send(http, emu, {"contact": ALICE, "message_id": said["id"], "reaction": "-emphasize"})
    assert emu.store.messages[said["id"]].tapbacks == {}


async def test_group_send_answers_with_the_group(emu, http, dev, receiver):
    group = await dev.group(emu, "Dinner crew", ALICE, "friend@icloud.com")
    await dev.say(emu, ALICE, "8pm?", group=group["key"])
    inbound = await receiver.next("message_inbound")
    assert inbound.body["group"] == {
        "id": group["key"],
        "name": "Dinner crew",
        "participants": [ALICE, "friend@icloud.com"],
    }
    response = await send(http, emu, {"group": group["key"], "text": "Booked"})
    assert response.status_code == 200
    assert response.json()["group"]["id"] == group["key"]
    delivered = await receiver.next("message_delivered")
    assert delivered.body["group"]["id"] == group["key"]


async def test_show_typing_shows_the_indicator_and_marks_read(emu, http, dev, receiver):
    said = await _opted_in(emu, dev, receiver)
    async with emu.bus.subscription() as events:
        response = await http.post(
            f"{emu.url}/api/v1/message/show-typing/",
            json={"message_id": said["id"], "typing": 8, "read": True},
            headers=CURRENT_KEY,
        )
        assert response.status_code == 200
        typing = await events.wait_for(lambda e: e.kind == "typing")
    assert typing.data == {"conversation": ALICE, "seconds": 8}
    assert emu.store.messages[said["id"]].read is True


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"message_id": "NOPE", "typing": 3}, 595),
        ({"contact": ALICE, "typing": 3}, 120),
        ({"typing": 3}, 120),
        ({"contact": ALICE, "sender": "emulator-sender", "typing": 61}, 125),
        ({"contact": "+14155550000", "sender": "emulator-sender", "typing": 3}, 510),
        ({"contact": ALICE, "sender": "not-ours", "typing": 3}, 220),
    ],
)
async def test_show_typing_validation(emu, http, dev, receiver, body, code):
    await _opted_in(emu, dev, receiver)
    response = await http.post(
        f"{emu.url}/api/v1/message/show-typing/", json=body, headers=CURRENT_KEY
    )
    assert (response.status_code, response.json()["code"]) == (400, code)


async def test_typing_hides_when_the_bot_sends(emu, http, dev, receiver):
    await _opted_in(emu, dev, receiver)
    async with emu.bus.subscription() as events:
        await http.post(
            f"{emu.url}/api/v1/message/show-typing/",
            json={"contact": ALICE, "sender": "emulator-sender", "typing": 30},
            headers=CURRENT_KEY,
        )
        await send(http, emu, {"contact": ALICE, "text": "done"})
        await events.wait_for(lambda e: e.kind == "typing" and e.data["seconds"] == 0)
    assert emu.store.conversations[ALICE].typing_until == 0
