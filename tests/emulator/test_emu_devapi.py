"""The emulator's own endpoints: state, people's messages, uploads, SSE, reset, the page."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rasa_imessage.emulator.contacts import ContactError, normalize_contact

ALICE = "+13231112233"


async def test_state_lists_what_happened(make_emulator, dev, http):
    emu = await make_emulator(api="legacy")
    said = await dev.say(emu, ALICE, "hello")
    state = (await http.get(f"{emu.url}/emulator/state")).json()
    assert state["api"] == "legacy"
    assert state["sender"] == "bot@imsg.co"
    assert [m["id"] for m in state["messages"]] == [said["id"]]
    assert state["conversations"][0]["key"] == ALICE
    assert {"code": 560, "meaning": state["codes"][-1]["meaning"]} != {}
    assert any(c["code"] == 560 for c in state["codes"])
    conversations = (await http.get(f"{emu.url}/emulator/conversations")).json()
    assert [c["key"] for c in conversations] == [ALICE]
    messages = (await http.get(f"{emu.url}/emulator/conversations/{ALICE}/messages")).json()
    assert messages[0]["text"] == "hello"
    missing = await http.get(f"{emu.url}/emulator/conversations/nobody/messages")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"text": "no contact"}, "contact is required"),
        ({"contact": "12", "text": "x"}, "invalid phone"),
        ({"contact": ALICE}, "needs text, attachments or a voice note"),
        ({"contact": ALICE, "text": "x", "group": "NOPE"}, "no group"),
        ({"contact": ALICE, "voice": "note.m4a"}, "voice must be"),
        ({"contact": ALICE, "text": "x", "message_type": "poll"}, "message_type must be"),
        ({"contact": ALICE, "text": "x", "reply_to_id": "NOPE"}, "no message"),
        ({"contact": ALICE, "attachments": "a.png"}, "list of strings"),
        ({"contact": 5, "text": "x"}, "must be a string"),
    ],
)
async def test_bad_messages_from_the_page_are_400_with_a_reason(make_emulator, http, body, reason):
    emu = await make_emulator()
    response = await http.post(f"{emu.url}/emulator/messages", json=body)
    assert response.status_code == 400
    assert reason in response.json()["error"]


async def test_groups_need_two_valid_participants(make_emulator, http):
    emu = await make_emulator()
    one = await http.post(f"{emu.url}/emulator/groups", json={"participants": [ALICE]})
    assert one.status_code == 400
    bad = await http.post(f"{emu.url}/emulator/groups", json={"participants": [ALICE, "x"]})
    assert bad.status_code == 400
    ok = await http.post(
        f"{emu.url}/emulator/groups", json={"name": "Crew", "participants": [ALICE, "B@X.COM"]}
    )
    assert ok.json()["participants"] == [ALICE, "b@x.com"]


async def test_reactions_only_on_bot_messages(make_emulator, dev, http):
    emu = await make_emulator()
    said = await dev.say(emu, ALICE, "hi")
    response = await http.post(
        f"{emu.url}/emulator/reactions", json={"message_id": said["id"], "reaction": "love"}
    )
    assert response.status_code == 400


async def test_upload_needs_a_file_part(make_emulator, http):
    emu = await make_emulator()
    response = await http.post(f"{emu.url}/emulator/files", files={"other": ("a.txt", b"x")})
    assert response.status_code == 400
    named = await http.post(
        f"{emu.url}/emulator/files", files={"file": ("../../etc/pass wd.txt", b"x", "text/plain")}
    )
    assert named.json()["name"] == "pass_wd.txt"
    assert (await http.get(named.json()["url"])).text == "x"
    wrong_name = named.json()["url"].rsplit("/", 1)[0] + "/other.txt"
    assert (await http.get(wrong_name)).status_code == 404


async def sse_lines(stream):
    async for line in stream.aiter_lines():
        yield line.rstrip("\r\n")


async def test_event_stream_carries_changes(make_emulator, dev, http):
    emu = await make_emulator()
    async with http.stream("GET", f"{emu.url}/emulator/events") as stream:
        assert stream.headers["content-type"] == "text/event-stream"
        lines = sse_lines(stream)
        assert await lines.__anext__() == "retry: 1000"
        said = await dev.say(emu, ALICE, "streamed")
        events = []
        async for line in lines:
            if line.startswith("event: "):
                events.append(line[7:])
            elif line.startswith("data: ") and events[-1] == "message":
                assert json.loads(line[6:])["id"] == said["id"]
                break
    assert events[:2] == ["conversation", "message"]


async def test_stop_ends_open_event_streams(make_emulator, http):
    emu = await make_emulator()
    async with http.stream("GET", f"{emu.url}/emulator/events") as stream:
        lines = sse_lines(stream)
        assert await lines.__anext__() == "retry: 1000"
        await emu.stop()
        assert [line async for line in lines if line] == []


async def test_reset_forgets_everything(make_emulator, dev, http):
    emu = await make_emulator()
    await dev.say(emu, ALICE, "hi")
    await dev.faults(emu, fail_next_send=520, webhook_delay=1)
    assert (await http.post(f"{emu.url}/emulator/reset")).json() == {"ok": True}
    state = (await http.get(f"{emu.url}/emulator/state")).json()
    assert state["messages"] == state["conversations"] == state["log"] == []
    assert state["faults"] == {
        "fail_next_send": None, "fail_next_delivery": False,
        "webhook_delay": 0.0, "duplicate_next_webhook": False,
    }  # fmt: skip
    assert ALICE not in emu.store.opted_in


async def test_page_and_static_files(make_emulator, http):
    emu = await make_emulator()
    page = await http.get(f"{emu.url}/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    for name, kind in [("app.js", "javascript"), ("style.css", "css"), ("favicon.svg", "svg")]:
        response = await http.get(f"{emu.url}/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    for name in ("nope.js", ".hidden", "..%2Fserver.py"):
        assert (await http.get(f"{emu.url}/static/{name}")).status_code == 404


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 (323) 111-2233", ALICE),
        ("1.323.111.2233", ALICE),
        ("+44 7700 900123", "+447700900123"),
        ("Jane.Doe@iCloud.com", "jane.doe@icloud.com"),
    ],
)
def test_contacts_normalise(raw, expected):
    assert normalize_contact(raw)[0] == expected


@given(st.text(max_size=40))
def test_normalising_any_text_gives_e164_an_email_or_contact_error(raw):
    try:
        contact, kind = normalize_contact(raw)
    except ContactError as error:
        assert error.kind in ("phone", "email")
        return
    if kind == "phone":
        assert contact.startswith("+") and contact[1:].isascii() and contact[1:].isdigit()
        assert 8 <= len(contact) - 1 <= 15
    else:
        assert contact == contact.lower() and contact.count("@") == 1
