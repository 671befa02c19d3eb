"""Several senders behind one organization (current API): whom a contact writes to, which
sender a reply goes from, and LoopMessage's 220 for a sender id that is not the
organization's. The connector answers from the sender written to (tests/test_e2e.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rasa_imessage.emulator import EmulatorConfig

CURRENT_KEY = {"Authorization": "emulator-key"}
LEGACY_KEYS = {"Authorization": "emulator-auth", "Loop-Secret-Key": "emulator-secret"}
ALICE = "+13231112233"
SENDERS = ("sender-main", "sender-support")


@pytest.fixture
async def emu(make_emulator, receiver):
    return await make_emulator(webhook_url=receiver.url, senders=SENDERS)


async def _send(http: httpx.AsyncClient, emu: Any, body: dict[str, Any]) -> httpx.Response:
    return await http.post(f"{emu.url}/api/v1/message/send/", json=body, headers=CURRENT_KEY)


async def test_a_contact_writes_to_the_sender_they_pick_and_the_webhook_names_it(
    emu, dev, receiver
):
    first = await dev.say(emu, ALICE, "hi")
    second = await dev.say(emu, ALICE, "hi again", sender="sender-support")
    bodies = [(await receiver.next("message_inbound")).body for _ in range(2)]
    assert [body["sender"] for body in bodies] == ["sender-main", "sender-support"]
    assert (first["via"], second["via"]) == ("sender-main", "sender-support")


async def test_a_send_goes_from_the_sender_it_names_else_the_one_last_written_to(
    emu, http, dev, receiver
):
    await dev.say(emu, ALICE, "hi", sender="sender-support")
    unnamed = await _send(http, emu, {"contact": ALICE, "text": "no sender named"})
    named = await _send(http, emu, {"contact": ALICE, "text": "from main", "sender": "sender-main"})
    assert unnamed.status_code == named.status_code == 200
    vias = {m.text: m.via for m in emu.store.messages.values() if m.direction == "outbound"}
    assert vias == {"no sender named": "sender-support", "from main": "sender-main"}


async def test_a_sender_id_not_the_organizations_is_220(emu, http, dev, receiver):
    await dev.say(emu, ALICE, "hi")
    response = await _send(http, emu, {"contact": ALICE, "text": "x", "sender": "someone-else"})
    assert response.status_code == 400
    assert response.json() == {"success": False, "code": 220,
                               "message": "Invalid sender name 'someone-else'"}  # fmt: skip
    assert not [m for m in emu.store.messages.values() if m.direction == "outbound"]


async def test_the_dev_api_refuses_a_sender_the_emulator_does_not_have(emu, http):
    response = await http.post(f"{emu.url}/emulator/messages",
                               json={"contact": ALICE, "text": "hi", "sender": "nope"})  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"] == "sender must be one of sender-main, sender-support"
    state = (await http.get(f"{emu.url}/emulator/state")).json()
    assert state["senders"] == list(SENDERS)


async def test_the_legacy_api_has_one_sender_name_and_refuses_another(make_emulator, http, dev):
    emu = await make_emulator(api="legacy")
    await dev.say(emu, ALICE, "hi")
    body = {"recipient": ALICE, "text": "x", "sender_name": "other@imsg.co"}
    response = await http.post(f"{emu.url}/api/v1/message/send/", json=body, headers=LEGACY_KEYS)
    assert (response.status_code, response.json()["code"]) == (400, 220)
    refused = await http.post(f"{emu.url}/emulator/messages",
                              json={"contact": ALICE, "text": "hi", "sender": "x"})  # fmt: skip
    assert "legacy API has one sender_name" in refused.json()["error"]


@pytest.mark.parametrize(
    ("senders", "says"),
    [((), "at least one sender"), (("a", " "), "none of them empty"), (("a", "a"), "repeat")],
)
def test_the_senders_setting_is_checked(senders: tuple[str, ...], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        EmulatorConfig(senders=senders)


def test_several_senders_are_the_current_apis() -> None:
    with pytest.raises(ValueError, match="the legacy API has one sender name"):
        EmulatorConfig(api="legacy", senders=("a", "b"))
    assert EmulatorConfig(api="legacy").senders == ("emulator-sender",)


async def test_a_facetime_call_reaches_the_bot_as_inbound_call_naming_the_sender(
    emu, http, receiver
):
    response = await http.post(f"{emu.url}/emulator/calls",
                               json={"contact": "+1 323 111 2233", "sender": "sender-support"})  # fmt: skip
    assert response.status_code == 201
    body = (await receiver.next("inbound_call")).body
    assert (body["contact"], body["sender"]) == (ALICE, "sender-support")
    assert "message_id" not in body and len(body["webhook_id"]) == 36
    refused = await http.post(f"{emu.url}/emulator/calls", json={"contact": "nobody"})
    assert refused.status_code == 400 and "use a phone with country code" in refused.json()["error"]


async def test_the_sender_list_pages_through_the_organizations_senders(emu, http):
    url = f"{emu.url}/api/v1/sender/list/"
    first = (await http.get(url, params={"per_page": 1}, headers=CURRENT_KEY)).json()
    second = (await http.get(url, params={"page": 2, "per_page": 1}, headers=CURRENT_KEY)).json()
    assert (first["num_pages"], first["count"]) == (2, 2)
    assert [item["id"] for item in first["items"] + second["items"]] == list(SENDERS)
    assert {item["status"] for item in first["items"] + second["items"]} == {"active"}
    refused = await http.get(url, params={"page": "0"}, headers=CURRENT_KEY)
    assert (refused.status_code, refused.json()["code"]) == (400, 125)
    assert (await http.get(url)).json()["code"] == 110  # no key


async def test_the_senders_command_lists_them(emu, capsys):
    import asyncio

    from rasa_imessage import cli, exit_codes

    flags = ["--api-key", "emulator-key", "--base-url", emu.url]
    assert await asyncio.to_thread(cli.main, ["senders", *flags]) == exit_codes.EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["sender-main", "active"],
                                                    ["sender-support", "active"]]  # fmt: skip
