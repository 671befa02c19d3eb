"""How the emulator posts webhooks: headers, payloads, retries, legacy replies, faults."""

from __future__ import annotations

import pytest

ALICE = "+13231112233"
CURRENT_KEY = {"Authorization": "emulator-key"}


async def test_headers_are_loopmessages(make_emulator, receiver, dev):
    emu = await make_emulator(webhook_url=receiver.url, webhook_auth="Bearer s3cret")
    await dev.say(emu, ALICE, "hi")
    hook = await receiver.next()
    assert hook.headers["Content-Type"] == "application/json"
    assert hook.headers["User-Agent"] == "LoopMessage"
    assert hook.headers["Connection"] == "close"
    assert hook.headers["Authorization"] == "Bearer s3cret"


async def test_no_authorization_header_when_none_is_configured(make_emulator, receiver, dev):
    emu = await make_emulator(webhook_url=receiver.url)
    await dev.say(emu, ALICE, "hi")
    assert "Authorization" not in (await receiver.next()).headers


async def test_inbound_text_payload(make_emulator, receiver, dev):
    emu = await make_emulator(webhook_url=receiver.url)
    said = await dev.say(emu, ALICE, "hello there", subject="Hi")
    body = (await receiver.next()).body
    assert body["event"] == "message_inbound"
    assert body["message_id"] == said["id"]
    assert body["contact"] == ALICE
    assert (body["text"], body["subject"], body["message_type"]) == ("hello there", "Hi", "text")
    assert body["channel"] == "imessage"
    assert body["sender"] == "emulator-sender"
    assert body["api_version"] == "1.0"
    assert len(body["webhook_id"]) == 36


async def test_inbound_voice_note_has_audio_type_and_speech(make_emulator, receiver, dev):
    emu = await make_emulator(webhook_url=receiver.url)
    voice = {"url": "http://127.0.0.1:1/files/x/note.m4a", "transcript": "Move it to eight?"}
    await dev.say(emu, ALICE, voice=voice)
    body = (await receiver.next()).body
    assert body["message_type"] == "audio"
    assert body["attachments"] == [voice["url"]]
    assert body["speech"]["text"] == "Move it to eight?"
    assert body["speech"]["language"]["code"] == "en"


@pytest.mark.parametrize(
    ("more", "kind"),
    [
        ({"attachments": ["https://cdn.example.com/p.heic"]}, "attachments"),
        ({"attachments": ["https://cdn.example.com/s.png"], "message_type": "sticker"}, "sticker"),
        ({"text": "https://maps.apple.com/?ll=1,2", "message_type": "location"}, "location"),
    ],
)
async def test_other_message_types(make_emulator, receiver, dev, more, kind):
    emu = await make_emulator(webhook_url=receiver.url)
    await dev.say(emu, ALICE, **more)
    assert (await receiver.next()).body["message_type"] == kind


async def test_tapback_on_a_bot_message_is_message_reaction(make_emulator, receiver, dev, http):
    emu = await make_emulator(webhook_url=receiver.url)
    await dev.say(emu, ALICE, "hi")
    sent = await http.post(
        f"{emu.url}/api/v1/message/send/",
        headers=CURRENT_KEY,
        json={"contact": ALICE, "text": "Table for two?"},
    )
    bot_id = sent.json()["message_id"]
    response = await http.post(
        f"{emu.url}/emulator/reactions", json={"message_id": bot_id, "reaction": "love"}
    )
    assert response.status_code == 200
    hook = await receiver.next("message_reaction")
    assert (hook.body["reaction"], hook.body["message_id"]) == ("love", bot_id)
    assert (hook.body["text"], hook.body["message_type"]) == ("Table for two?", "reaction")
    assert emu.store.messages[bot_id].tapbacks == {ALICE: "love"}


async def test_legacy_tapback_emphasis_is_exclaim(make_emulator, receiver, dev, http):
    emu = await make_emulator(api="legacy", webhook_url=receiver.url)
    await dev.say(emu, ALICE, "hi")
    sent = await http.post(
        f"{emu.url}/api/v1/message/send/",
        headers={"Authorization": "emulator-auth", "Loop-Secret-Key": "emulator-secret"},
        json={"recipient": ALICE, "text": "ok", "sender_name": "bot@imsg.co"},
    )
    await http.post(
        f"{emu.url}/emulator/reactions",
        json={"message_id": sent.json()["message_id"], "reaction": "emphasize"},
    )
    assert (await receiver.next("message_reaction")).body["reaction"] == "exclaim"


async def test_non_200_is_retried_with_the_same_webhook_id(make_emulator, receiver, dev):
    receiver.replies = [(500, "boom"), (401, {"error": "auth"}), (204, "")]
    emu = await make_emulator(webhook_url=receiver.url, retry_scale=0.001)
    said = await dev.say(emu, ALICE, "hi")
    async with emu.bus.subscription() as events:
        hooks = [await receiver.next() for _ in range(4)]
        await events.wait_for(lambda e: e.kind == "message" and e.data["status"] == "delivered")
    assert len({hook.body["webhook_id"] for hook in hooks}) == 1
    assert [hook.body for hook in hooks] == [hooks[0].body] * 4
    attempts = [entry for entry in emu.store.log if entry.direction == "webhook"]
    assert [(e.attempt, e.status, e.ok) for e in attempts] == [
        (1, 500, False),
        (2, 401, False),
        (3, 204, False),
        (4, 200, True),
    ]
    assert attempts[0].detail == "boom"
    assert emu.store.messages[said["id"]].status == "delivered"


async def test_timeouts_are_retried(make_emulator, receiver, dev):
    receiver.hang = 1
    emu = await make_emulator(webhook_url=receiver.url, webhook_timeout=0.2, retry_scale=0)
    await dev.say(emu, ALICE, "hi")
    first = await receiver.next()
    second = await receiver.next()
    assert first.body["webhook_id"] == second.body["webhook_id"]
    entries = [entry for entry in emu.store.log if entry.direction == "webhook"]
    assert entries[0].status is None and "no answer within 0.2 s" in entries[0].detail


async def test_gives_up_after_thirty_retries(make_emulator, dev, unused_tcp_port):
    emu = await make_emulator(webhook_url=f"http://127.0.0.1:{unused_tcp_port}/hook", retry_scale=0)
    async with emu.bus.subscription() as events:
        said = await dev.say(emu, ALICE, "anyone?")
        await events.wait_for(lambda e: e.kind == "message" and e.data["status"] == "failed")
    attempts = [entry for entry in emu.store.log if entry.direction == "webhook"]
    assert [entry.attempt for entry in attempts] == list(range(1, 32))
    assert not any(entry.ok for entry in attempts)
    assert emu.store.messages[said["id"]].status == "failed"


async def test_retry_schedule_is_loopmessages_scaled(make_emulator):
    emu = await make_emulator(retry_scale=0.01)
    delays = emu.config.retry_delays()
    assert len(delays) == 30
    assert delays[0] == pytest.approx(0.3) and delays[10] == pytest.approx(1.8)
    assert delays[29] == pytest.approx(9.0)


async def test_a_conversations_webhooks_arrive_in_order_behind_a_retry(
    make_emulator, receiver, dev
):
    receiver.replies = [(503, "")]
    emu = await make_emulator(webhook_url=receiver.url, retry_scale=0.001)
    for text in ("one", "two", "three"):
        await dev.say(emu, ALICE, text)
    texts = [(await receiver.next()).body["text"] for _ in range(4)]
    assert texts == ["one", "one", "two", "three"]


@pytest.mark.parametrize(
    ("reply", "typing", "read"),
    [
        ({"typing": 5, "read": True}, 5, True),
        ({"typing": 99}, 60, False),
        ({"read": True, "message": "extra keys are fine"}, None, True),
    ],
)
async def test_legacy_reply_body_drives_typing_and_read(
    make_emulator, receiver, dev, reply, typing, read
):
    receiver.replies = [(200, reply)]
    emu = await make_emulator(api="legacy", webhook_url=receiver.url)
    async with emu.bus.subscription() as events:
        said = await dev.say(emu, ALICE, "hi")
        await events.wait_for(lambda e: e.kind == "message" and e.data["status"] == "delivered")
    if typing is not None:
        assert emu.store.conversations[ALICE].typing_until > 0
        entry = next(e for e in emu.store.log if e.direction == "webhook")
        assert f"typing {typing} s" in entry.detail
    else:
        assert emu.store.conversations[ALICE].typing_until == 0
    assert emu.store.messages[said["id"]].read is read


async def test_current_api_ignores_the_reply_body(make_emulator, receiver, dev):
    receiver.replies = [(200, {"typing": 5, "read": True})]
    emu = await make_emulator(webhook_url=receiver.url)
    async with emu.bus.subscription() as events:
        said = await dev.say(emu, ALICE, "hi")
        await events.wait_for(lambda e: e.kind == "message" and e.data["status"] == "delivered")
    assert emu.store.conversations[ALICE].typing_until == 0
    assert emu.store.messages[said["id"]].read is False


async def test_duplicate_fault_delivers_the_next_webhook_twice(make_emulator, receiver, dev):
    emu = await make_emulator(webhook_url=receiver.url)
    await dev.faults(emu, duplicate_next_webhook=True)
    await dev.say(emu, ALICE, "once")
    await dev.say(emu, ALICE, "twice?")
    hooks = [await receiver.next() for _ in range(3)]
    assert [h.body["text"] for h in hooks] == ["once", "once", "twice?"]
    assert hooks[0].body["webhook_id"] == hooks[1].body["webhook_id"]


async def test_delivery_fault_sends_message_failed_1020(make_emulator, receiver, dev, http):
    emu = await make_emulator(webhook_url=receiver.url)
    await dev.say(emu, ALICE, "hi")
    await dev.faults(emu, fail_next_delivery=True)
    sent = await http.post(
        f"{emu.url}/api/v1/message/send/",
        headers=CURRENT_KEY,
        json={"contact": ALICE, "text": "lost", "passthrough": "p1"},
    )
    failed = await receiver.next("message_failed")
    assert (failed.body["error_code"], failed.body["passthrough"]) == (1020, "p1")
    status = await http.get(
        f"{emu.url}/v1/message/status/{sent.json()['message_id']}/", headers=CURRENT_KEY
    )
    assert (status.json()["status"], status.json()["error_code"]) == ("failed", 1020)
    again = await http.post(
        f"{emu.url}/api/v1/message/send/",
        headers=CURRENT_KEY,
        json={"contact": ALICE, "text": "found"},
    )
    assert (await receiver.next("message_delivered")).body["message_id"] == again.json()[
        "message_id"
    ]


@pytest.mark.parametrize(("fault", "status"), [(550, 400), ("1010", 400), ("http500", 500)])
async def test_send_faults_fail_only_the_next_send(
    make_emulator, receiver, dev, http, fault, status
):
    emu = await make_emulator(webhook_url=receiver.url)
    await dev.say(emu, ALICE, "hi")
    assert (await dev.faults(emu, fail_next_send=fault)).status_code == 200
    first = await http.post(
        f"{emu.url}/api/v1/message/send/", headers=CURRENT_KEY, json={"contact": ALICE, "text": "x"}
    )
    assert first.status_code == status
    if status == 400:
        assert first.json()["code"] == int(fault)
        assert "(fault)" in first.json()["message"]
    second = await http.post(
        f"{emu.url}/api/v1/message/send/", headers=CURRENT_KEY, json={"contact": ALICE, "text": "x"}
    )
    assert second.status_code == 200


async def test_timeout_fault_holds_the_send(make_emulator, dev, http):
    import httpx

    emu = await make_emulator()
    await dev.say(emu, ALICE, "hi")
    await dev.faults(emu, fail_next_send="timeout")
    with pytest.raises(httpx.ReadTimeout):
        await http.post(
            f"{emu.url}/api/v1/message/send/",
            headers=CURRENT_KEY,
            json={"contact": ALICE, "text": "x"},
            timeout=0.3,
        )


@pytest.mark.parametrize(
    "switches",
    [
        {"fail_next_send": "sometimes"},
        {"webhook_delay": -1},
        {"webhook_delay": 500},
        {"fail_next_delivery": "yes"},
        {"explode": True},
    ],
)
async def test_bad_fault_switches_are_refused(make_emulator, dev, switches):
    emu = await make_emulator()
    response = await dev.faults(emu, **switches)
    assert response.status_code == 400
    assert response.json()["error"]


async def test_webhook_delay_still_delivers(make_emulator, receiver, dev):
    emu = await make_emulator(webhook_url=receiver.url)
    assert (await dev.faults(emu, webhook_delay=0.05)).json()["webhook_delay"] == 0.05
    await dev.say(emu, ALICE, "slow")
    assert (await receiver.next()).body["text"] == "slow"


async def test_without_a_webhook_url_messages_are_marked_failed(make_emulator, dev):
    emu = await make_emulator()
    async with emu.bus.subscription() as events:
        said = await dev.say(emu, ALICE, "hello?")
        await events.wait_for(lambda e: e.kind == "message" and e.data["status"] == "failed")
    assert emu.store.log[-1].detail == "not sent: no webhook URL configured"
    assert emu.store.messages[said["id"]].status == "failed"


@pytest.mark.parametrize(
    ("api", "event"), [("current", "opt-in"), ("legacy", "conversation_inited")]
)
async def test_opt_in_opts_the_contact_in_and_tells_the_bot(
    make_emulator, receiver, http, api, event
):
    emu = await make_emulator(api=api, webhook_url=receiver.url)
    response = await http.post(f"{emu.url}/emulator/opt-in", json={"contact": "+1 323 111 2233"})
    assert response.status_code == 201
    hook = await receiver.next()
    assert (hook.body.get("event") or hook.body.get("alert_type")) == event
    assert ALICE in emu.store.opted_in
    bad = await http.post(f"{emu.url}/emulator/opt-in", json={"contact": "nobody"})
    assert bad.status_code == 400
