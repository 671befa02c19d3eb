"""Opt-in links (current API): LoopMessage's generate-url endpoint as the emulator serves it,
the link opened, and the message sent from it arriving as an opt-in with its parameters."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rasa_imessage import cli, exit_codes

CURRENT_KEY = {"Authorization": "emulator-key"}
ALICE = "+13231112233"


@pytest.fixture
async def emu(make_emulator, receiver):
    return await make_emulator(webhook_url=receiver.url)


async def _generate(http: httpx.AsyncClient, emu: Any, body: Any) -> httpx.Response:
    url = f"{emu.url}/api/v1/opt-in/generate-url/"
    return await http.post(url, json=body, headers=CURRENT_KEY)


async def test_the_link_opens_the_page_with_the_message_and_sending_it_opts_in(
    emu, http, dev, receiver
):
    response = await _generate(
        http, emu, {"body": "Start chatting [opt-in-code]", "utm_campaign": "spring"}
    )
    assert response.status_code == 200
    links = response.json()
    assert set(links) == {"id", "imessage", "sms", "whatsapp", "url"}
    assert links["url"] == f"{emu.url}/opt-in/{links['id']}"
    opened = await http.get(links["url"], follow_redirects=True)  # on to the chat page
    assert opened.status_code == 200 and "<html" in opened.text.lower()
    (text,) = parse_qs(urlsplit(str(opened.url)).query)["compose"]
    assert text.startswith("Start chatting ") and "[opt-in-code]" not in text
    assert f"&body={text.replace(' ', '%20')}" in links["imessage"]

    await dev.say(emu, ALICE, text)
    body = (await receiver.next("message_inbound")).body
    assert (body["type"], body["text"]) == ("opt_in", text)
    assert body["parameters"] == {"utm_campaign": "spring"}
    assert body["organization_id"] == "emulator-organization"
    await dev.say(emu, ALICE, text)  # once per contact: the second time is a plain message
    assert "type" not in (await receiver.next("message_inbound")).body


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"body": "no placeholder"}, 120),
        ({}, 120),
        ({"body": "x [opt-in-code]", "sender_type": "private"}, 125),
        (["not", "an", "object"], 100),
    ],
)
async def test_a_body_loopmessage_would_refuse_is_refused(emu, http, body, code):
    response = await _generate(http, emu, body)
    assert (response.status_code, response.json()["code"]) == (400, code)


async def test_an_unknown_link_is_404_and_the_legacy_api_has_no_endpoint(make_emulator, http):
    emu = await make_emulator()
    assert (await http.get(f"{emu.url}/opt-in/nope", follow_redirects=False)).status_code == 404
    legacy = await make_emulator(api="legacy")
    response = await http.post(f"{legacy.url}/api/v1/opt-in/generate-url/", json={"body": "x"})
    assert response.status_code in (404, 405)


async def test_the_opt_in_link_command_prints_the_links(make_emulator, capsys):
    emu = await make_emulator()
    flags = ["--api-key", "emulator-key", "--base-url", emu.url]
    code = await _in_thread(["opt-in-link", "--param", "utm_campaign=spring", *flags])
    assert code == exit_codes.EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("✓ opt-in link ")
    (link,) = emu.store.opt_in_links.values()
    assert f"  page:      {emu.url}/opt-in/{link.id}" in out
    assert link.parameters == {"utm_campaign": "spring"}
    assert link.text.startswith("Hi! Send this to start chatting ")


@pytest.mark.parametrize(
    ("argv", "exit_code", "says"),
    [
        (["--param", "no-equals"], exit_codes.EXIT_BAD_CONFIG, "write KEY=VALUE"),
        (["--text", "no placeholder"], exit_codes.EXIT_FAILURE, "must contain [opt-in-code]"),
    ],
)
async def test_the_opt_in_link_command_refuses_what_cannot_work(
    make_emulator, capsys, argv, exit_code, says
):
    emu = await make_emulator()
    flags = ["--api-key", "emulator-key", "--base-url", emu.url]
    assert await _in_thread(["opt-in-link", *argv, *flags]) == exit_code
    assert says in capsys.readouterr().err
    assert not emu.store.opt_in_links


async def _in_thread(argv: list[str]) -> int:
    """The command runs its own event loop, so not on the emulator's."""
    import asyncio

    return await asyncio.to_thread(cli.main, argv)
