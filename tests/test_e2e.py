"""End to end: example_bot under a real `rasa run`, LoopMessage played by the emulator.

Every test runs against both API generations. People "text" the bot through the emulator's
dev API, which posts LoopMessage's webhooks to Rasa; what the bot answers is read back from
what the emulator received through its LoopMessage API.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from rasa_bot import BOT_DIR, BotStack, bot_stack, wait_until
from servers import process_alive

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

_numbers = itertools.count(1000)


# The current API's organization has two senders, and the connector's `sender` names the
# first: a reply to a contact who wrote to the second must still come from the second.
SENDERS = ("emulator-sender", "emulator-sender-2")


@pytest.fixture(scope="module", params=["current", "legacy"])
def stack(request: pytest.FixtureRequest, trained_bot: Path) -> Iterator[BotStack]:
    if request.param == "legacy":
        with bot_stack(trained_bot, "legacy") as running:
            yield running
        return
    extra = f"  sender: {SENDERS[0]}\n"
    with bot_stack(trained_bot, "current", extra, senders=SENDERS) as running:
        yield running


def new_contact() -> str:
    return f"+1323555{next(_numbers):04d}"


def replies(stack: BotStack, contact: str, containing: str, count: int = 1) -> List[Dict[str, Any]]:
    """Wait until the bot sent `count` messages containing `containing` to `contact`."""

    def found() -> List[Dict[str, Any]]:
        hits = [m for m in stack.bot_messages(contact) if containing in m["text"]]
        return hits if len(hits) >= count else []

    return wait_until(found, 60, f"a reply containing {containing!r}")


def webhook_payload(api: str, contact: str, text: str, webhook_id: str) -> Dict[str, Any]:
    """A message_inbound webhook exactly as LoopMessage sends it (reference, PART F)."""
    message_id = str(uuid.uuid4()).upper()
    if api == "current":
        return {"event": "message_inbound", "contact": contact, "text": text,
                "message_type": "text", "channel": "imessage", "message_id": message_id,
                "webhook_id": webhook_id, "api_version": "1.0"}  # fmt: skip
    return {"alert_type": "message_inbound", "recipient": contact, "text": text,
            "message_type": "text", "delivery_type": "imessage", "sender_name": "bot@imsg.co",
            "message_id": message_id, "webhook_id": webhook_id, "api_version": "1.0"}  # fmt: skip


def test_text_reply_reaches_the_contact_split_into_bubbles(stack: BotStack) -> None:
    contact = new_contact()
    stack.say(contact, "hi")
    greeting = replies(stack, contact, "example bot")[0]
    follow_up = replies(stack, contact, "Try one of these")[0]
    assert greeting["text"] == "Hi! I'm the rasa-imessage example bot 👋"  # Markdown made plain
    assert follow_up["created"] >= greeting["created"]
    acks = [
        e
        for e in stack.dev("GET", "/emulator/log")
        if e["direction"] == "webhook" and e["title"] == "message_inbound"
    ]
    assert acks and all(e["status"] == 200 for e in acks)
    # The ack does not wait for the turn: far inside LoopMessage's 15 s timeout.
    assert max(e["duration_ms"] for e in acks) < 2000
    # Typing and read receipts reach LoopMessage (legacy: in the 200 body; current: endpoint).
    wait_until(
        lambda: all(m["read"] for m in stack.messages(contact) if m["direction"] == "inbound"),
        30,
        "the user's message to be marked read",
    )


def test_a_conversation_read_back_through_the_event_lookup_by_name_goes_on(
    stack: BotStack,
) -> None:
    """`cache_event_types` is on by default under `rasa run`; each turn reads the whole
    conversation back through it, and the bot still answers every message in order."""
    assert "Rasa's event classes found by name: installed" in stack.log()
    contact = new_contact()
    for turn in range(1, 5):
        stack.say(contact, "hi")
        replies(stack, contact, "Try one of these", count=turn)  # each turn after the last
    texts = [m["text"] for m in stack.bot_messages(contact)]
    assert texts.count("Hi! I'm the rasa-imessage example bot 👋") == 4


def test_replies_come_from_the_sender_the_contact_wrote_to(stack: BotStack) -> None:
    """Current API: the contact writes to the organization's second sender; the greeting's
    bubbles come from it, though `sender` names the first. The emulator refuses a sender id
    that is not the organization's (220), so a wrong one would fail the send."""
    if stack.emulator.config.api == "legacy":
        pytest.skip("the legacy API has one sender_name")
    contact = new_contact()
    stack.say(contact, "hi", sender=SENDERS[1])
    (greeting,) = replies(stack, contact, "example bot")
    assert greeting["via"] == SENDERS[1]
    stack.say(contact, "help", sender=SENDERS[0])  # the same contact, now to the first sender
    (help_reply,) = replies(stack, contact, "Here is what I can show you")
    assert help_reply["via"] == SENDERS[0]
    assert {message["via"] for message in stack.bot_messages(contact)} == set(SENDERS)


def test_wrong_or_missing_webhook_auth_is_refused(stack: BotStack) -> None:
    payload = webhook_payload(stack.emulator.config.api, new_contact(), "hi", str(uuid.uuid4()))
    assert stack.post_webhook(payload, auth="not-the-secret").status_code == 401
    assert stack.post_webhook(payload, auth=None).status_code == 401
    bad = stack.post_webhook({"event": "message_inbound", "text": "no contact"})
    assert bad.status_code == 400 and "contact" in bad.json()["error"]


def test_a_webhook_delivered_three_times_is_answered_once(stack: BotStack) -> None:
    contact = new_contact()
    stack.say(contact, "hi")  # the contact opts in by writing first
    replies(stack, contact, "example bot")
    payload = webhook_payload(stack.emulator.config.api, contact, "picture", str(uuid.uuid4()))
    with ThreadPoolExecutor(3) as pool:
        statuses = [r.status_code for r in pool.map(stack.post_webhook, [payload] * 3)]
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}
    replies(stack, contact, "A picture, as promised")
    assert stack.post_webhook(payload).json() == {"status": "duplicate"}
    stack.say(contact, "bye")  # turns run in order: once this is answered, nothing is pending
    replies(stack, contact, "Bye!")
    assert len([m for m in stack.bot_messages(contact) if "A picture" in m["text"]]) == 1


def test_button_answered_by_number_reaches_the_second_buttons_intent(stack: BotStack) -> None:
    contact = new_contact()
    stack.say(contact, "mood")
    question = replies(stack, contact, "How are you feeling")[0]
    assert question["text"].endswith("1. Great\n2. Not so good")
    stack.say(contact, "2")
    cheer = replies(stack, contact, "cheer you up")[0]
    assert cheer["attachments"] == ["https://i.imgur.com/nGF1K8f.jpg"]  # text and image: one send


def test_the_bots_own_picture_and_voice_note_are_served_by_rasa_run(stack: BotStack) -> None:
    """example_bot sends media/picture.png and media/chime.wav by path: the connector sends
    signed URLs on `public_url` (Rasa's port), and `rasa run` answers them with the files."""
    contact = new_contact()
    stack.say(contact, "picture")
    (url,) = replies(stack, contact, "A picture, as promised")[0]["attachments"]
    stack.say(contact, "voice")
    wait_until(lambda: any(m["media_url"] for m in stack.bot_messages(contact)) or None)
    (voice,) = [m["media_url"] for m in stack.bot_messages(contact) if m["media_url"]]
    for served, name, content_type in ((url, "picture.png", "image/png"),
                                       (voice, "chime.wav", "audio/wav")):  # fmt: skip
        assert served.startswith(stack.rasa_url + "/webhooks/imessage/media/f/")
        assert served.endswith("/" + name)
        fetched = httpx.get(served, timeout=10)
        assert fetched.status_code == 200 and fetched.headers["content-type"] == content_type
        assert fetched.content == (BOT_DIR / "media" / name).read_bytes()
    assert httpx.get(url.replace("picture.png", "domain.yml"), timeout=10).status_code == 404


def test_voice_note_transcript_goes_to_nlu(stack: BotStack) -> None:
    contact = new_contact()
    stack.say(contact, voice={"url": "https://cdn.example.com/note.caf",
                              "transcript": "send me a picture please"})  # fmt: skip
    replies(stack, contact, "A picture, as promised")


def test_attachment_without_text_becomes_the_attachment_intent(stack: BotStack) -> None:
    contact = new_contact()
    stack.say(contact, attachments=["https://cdn.example.com/cat.png"])
    echo = replies(stack, contact, "Nice picture")[0]
    assert echo["attachments"] == ["https://cdn.example.com/cat.png"]


def test_tapback_on_a_bot_message_reaches_the_bot(stack: BotStack) -> None:
    contact = new_contact()
    stack.say(contact, "hi")
    greeting = replies(stack, contact, "example bot")[0]
    stack.dev(
        "POST", "/emulator/reactions", json={"message_id": greeting["id"], "reaction": "love"}
    )
    replies(stack, contact, "Thanks for the love!")


def test_failed_delivery_reaches_the_bots_handler(stack: BotStack) -> None:
    contact = new_contact()
    stack.say(contact, "hi")
    replies(stack, contact, "Try one of these")
    stack.dev("POST", "/emulator/faults", json={"fail_next_delivery": True})
    stack.say(contact, "celebrate")
    handler = replies(stack, contact, "did not reach you")
    assert any(m["channel"] == "sms" for m in handler)  # the bot's custom SMS fallback


def test_a_facetime_call_is_answered_with_a_text(stack: BotStack) -> None:
    """`inbound_call` reaches the bot as `imessage_call`, which the example bot answers."""
    contact = new_contact()
    stack.say(contact, "hi")  # a contact who wrote before: LoopMessage sends only to them
    replies(stack, contact, "example bot")
    stack.dev("POST", "/emulator/calls", json={"contact": contact})
    (answer,) = replies(stack, contact, "I can't pick up calls")
    assert answer["text"].endswith("Text me what you need 🙂")


def test_a_contact_who_sends_an_opt_in_links_message_is_welcomed(stack: BotStack) -> None:
    """Current API: `rasa-imessage opt-in-link` asks LoopMessage for a link; the contact
    sends its message, which reaches the bot as `imessage_conversation_started`."""
    if stack.emulator.config.api == "legacy":
        pytest.skip("opt-in links are the current API's")
    import httpx
    from pydantic import SecretStr

    from rasa_imessage.credentials_file import opt_in_links
    from rasa_imessage.loopmessage import ClientConfig

    config = ClientConfig(api_key=SecretStr("emulator-key"), base_url=stack.emulator.url)
    links = asyncio.run(opt_in_links(config, "Sign me up [opt-in-code]", {"ref": "qr"}, False))
    opened = httpx.get(links.url or "", follow_redirects=True, timeout=10)
    (text,) = parse_qs(urlsplit(str(opened.url)).query)["compose"]
    contact = new_contact()
    stack.say(contact, text)
    (welcome,) = replies(stack, contact, "Welcome!")
    assert welcome["text"] == "Welcome! Say hi to get started."


def test_group_message_is_answered_in_the_group(stack: BotStack) -> None:
    members = [new_contact(), new_contact()]
    group = stack.dev("POST", "/emulator/groups", json={"name": "Dinner", "participants": members})
    stack.say(members[1], "picture", group=group["key"])
    replies(stack, group["key"], "A picture, as promised")


def test_check_confirms_keys_and_the_webhook_round_trip(stack: BotStack) -> None:
    import asyncio

    from rasa_imessage.checks import check_credentials
    from rasa_imessage.demo import credentials_yaml

    api = stack.emulator.config.api
    block = yaml.safe_load(credentials_yaml(api, stack.emulator_url, stack.webhook_auth))
    report = asyncio.run(check_credentials(block["rasa_imessage.IMessageInput"],
                                           bot_url=stack.rasa_url))  # fmt: skip
    assert report.ok, report.render()
    assert (
        "refused (401)" in report.render()
        and "accepts LoopMessage's Authorization" in report.render()
    )
    wrong = dict(block["rasa_imessage.IMessageInput"], webhook_auth="not-what-the-bot-has")
    assert not asyncio.run(check_credentials(wrong, online=False, bot_url=stack.rasa_url)).ok


def test_check_fetches_a_file_of_media_dir_through_public_url(
    stack: BotStack, trained_bot: Path, tmp_path: Path
) -> None:
    """`check` reaches the running bot at `public_url` and fetches media/chime.wav (the first
    name) there; a folder the bot does not have fails the check."""
    import asyncio

    from rasa_imessage.checks import check_credentials
    from rasa_imessage.demo import credentials_yaml, hosting

    api = stack.emulator.config.api
    extra = hosting(stack.rasa_url, trained_bot)
    block = yaml.safe_load(credentials_yaml(api, stack.emulator_url, stack.webhook_auth, extra))
    report = asyncio.run(check_credentials(block["rasa_imessage.IMessageInput"]))
    assert report.ok, report.render()
    assert "serves the files of media_dir (fetched chime.wav)" in report.render()
    (tmp_path / "elsewhere.png").write_bytes(b"not the bot's")
    other = dict(block["rasa_imessage.IMessageInput"], media_dir=str(tmp_path))
    report = asyncio.run(check_credentials(other))
    assert not report.ok and "answered 404 for elsewhere.png" in report.render()


def test_webhooks_on_their_own_port_reach_the_bot_under_rasa_run(trained_bot: Path) -> None:
    """`webhook_port`: a real `rasa run` answers LoopMessage's webhooks from a process of
    its own; the emulator posts them there, and the replies still reach the contact."""
    import asyncio

    import httpx
    from rasa_bot import WEBHOOK_PATH

    from rasa_imessage.checks import check_credentials
    from rasa_imessage.demo import credentials_yaml
    from rasa_imessage.rasa_process import free_port

    port = free_port()
    extra = f"  webhook_port: {port}\n  webhook_host: 127.0.0.1\n"
    with bot_stack(trained_bot, "current", extra) as stack:
        front = f"http://127.0.0.1:{port}"
        stack.emulator.dispatcher.webhook_url = front + WEBHOOK_PATH
        contact = new_contact()
        stack.say(contact, "hi")
        greeting = replies(stack, contact, "example bot")[0]
        webhook = webhook_payload("current", contact, "help", f"front-{contact}")
        headers = {"Authorization": stack.webhook_auth}
        first = httpx.post(front + WEBHOOK_PATH, json=webhook, headers=headers, timeout=15)
        replies(stack, contact, "Here is what I can show you")
        again = httpx.post(front + WEBHOOK_PATH, json=webhook, headers=headers, timeout=15)
        wrong = httpx.post(front + WEBHOOK_PATH, json=webhook, headers={"Authorization": "x"})
        stack.say(contact, "picture")  # signed on Rasa's URL; the port serves the same path
        (picture,) = replies(stack, contact, "A picture, as promised")[0]["attachments"]
        on_the_port = picture.replace(stack.rasa_url, front)
        fetched = httpx.get(on_the_port, timeout=10)
        part = httpx.get(on_the_port, headers={"Range": "bytes=0-7"}, timeout=10)
        block = yaml.safe_load(credentials_yaml("current", stack.emulator_url, stack.webhook_auth))
        report = asyncio.run(check_credentials(block["rasa_imessage.IMessageInput"],
                                               online=False, bot_url=front))  # fmt: skip
        log = stack.log()
    assert greeting["text"]
    assert first.status_code == 200 and again.json() == {"status": "duplicate"}
    assert wrong.status_code == 401
    assert report.ok, report.render()  # `rasa-imessage check --bot-url` works on the port
    assert f"answered on 127.0.0.1:{port}/webhooks/imessage/webhook" in log
    png = (BOT_DIR / "media" / "picture.png").read_bytes()
    assert (fetched.status_code, fetched.headers["content-type"], fetched.content) == (
        200, "image/png", png)  # fmt: skip
    assert (part.status_code, part.content) == (206, png[:8])


def test_replies_go_through_the_send_worker_under_rasa_run(trained_bot: Path) -> None:
    """`send_worker: true`: a child of `rasa run` makes the LoopMessage calls; a reply's two
    bubbles reach the contact in order, and the child ends with the server. (That they go
    to the child as one call is test_lm_worker.py's.)"""
    with bot_stack(trained_bot, "current", "  send_worker: true\n") as stack:
        contact = new_contact()
        stack.say(contact, "hi")
        replies(stack, contact, "Try one of these")  # the second bubble
        rasa_pid = stack.replicas[0].process.pid
        workers = [pid for pid in _children(rasa_pid) if "_worker_process" in _command(pid)]
        texts = [m["text"] for m in stack.bot_messages(contact)]
        stack.say(contact, "help")
        replies(stack, contact, "Here is what I can show you")
    assert len(workers) == 1
    assert texts[0].startswith("Hi! I'm the rasa-imessage example bot")
    assert texts[1].startswith("Try one of these")
    assert not process_alive(workers[0])


def _children(pid: int) -> List[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as listed:
        return [int(child) for child in listed.read().split()]


def _command(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as command:
        return command.read().replace(b"\0", b" ").decode(errors="replace")


def test_a_taken_webhook_port_stops_rasa_run(trained_bot: Path, tmp_path: Path) -> None:
    """No server that would leave LoopMessage's webhooks unanswered: with `webhook_port` held
    by another process, `rasa run` exits with an error that names the port."""
    import socket
    import subprocess
    import sys

    from rasa_imessage.demo import credentials_yaml
    from rasa_imessage.rasa_process import free_port, rasa_environment

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        credentials = tmp_path / "credentials.yml"
        settings = {"webhook_port": port, "webhook_host": "127.0.0.1"}
        credentials.write_text(
            credentials_yaml("current", "http://127.0.0.1:9", "e2e-taken", settings),
            encoding="utf-8",
        )
        log = tmp_path / "rasa.log"
        with open(log, "wb") as out:
            run = subprocess.run(
                [sys.executable, "-m", "rasa", "run", "--model", "models",
                 "--credentials", str(credentials), "--port", str(free_port()),
                 "--interface", "127.0.0.1"],
                cwd=trained_bot, env=rasa_environment(), stdout=out, stderr=subprocess.STDOUT,
                timeout=180,
            )  # fmt: skip
    text = log.read_text(encoding="utf-8", errors="replace")
    assert run.returncode != 0, text[-3000:]
    assert f"webhook_port: cannot listen on 127.0.0.1:{port}" in text, text[-3000:]


def test_trigger_intent_reaches_the_contact_through_rasas_own_route(trained_bot: Path) -> None:
    """`rasa run --enable-api`: Rasa's `trigger_intent` route with `output_channel=imessage`
    answers through the conversation's outbox, and the reply reaches the contact after
    Rasa's HTTP answer (the order against a turn's replies: test_outbox.py)."""
    import httpx

    with bot_stack(trained_bot, "current", rasa_args=("--enable-api",)) as stack:
        contact = new_contact()
        stack.say(contact, "help")  # LoopMessage sends only to contacts who wrote first
        replies(stack, contact, "Here is what I can show you")
        triggered = httpx.post(
            f"{stack.rasa_url}/conversations/{contact}/trigger_intent",
            params={"output_channel": "imessage"},
            json={"name": "greet"},
            timeout=30,
        )
        greeting = replies(stack, contact, "example bot")[0]
    assert triggered.status_code == 200, triggered.text
    assert "messages" not in triggered.json()  # sent through LoopMessage, not collected
    assert greeting["text"] == "Hi! I'm the rasa-imessage example bot 👋"


def test_metadata_keys_trim_the_user_events_and_the_session_slot_under_rasa_run(
    trained_bot: Path,
) -> None:
    """`metadata_keys`: what a real `rasa run` stores is trimmed, the user message's metadata
    and the `session_started_metadata` slot that Rasa copies from a session's first message."""
    import httpx

    extra = "  metadata_keys: [contact, message_id]\n"
    with bot_stack(trained_bot, "current", extra, rasa_args=("--enable-api",)) as stack:
        contact = new_contact()
        stack.say(contact, "hi")
        replies(stack, contact, "example bot")
        stack.say(contact, "help")
        replies(stack, contact, "Here is what I can show you")
        tracker = httpx.get(f"{stack.rasa_url}/conversations/{contact}/tracker", timeout=30)
    assert tracker.status_code == 200, tracker.text
    events = tracker.json()["events"]
    users = [event for event in events if event["event"] == "user"]
    assert [event["text"] for event in users] == ["hi", "help"]
    rasas_own = {"model_id", "assistant_id"}  # Rasa adds these to every user event
    kept = [{k: v for k, v in event["metadata"].items() if k not in rasas_own} for event in users]
    assert [set(metadata) for metadata in kept] == [{"contact", "message_id"}] * 2
    assert kept[0]["contact"] == contact and kept[0]["message_id"] != kept[1]["message_id"]
    slot = [event["value"] for event in events
            if event["event"] == "slot" and event["name"] == "session_started_metadata"]  # fmt: skip
    assert slot == [kept[0]]


def test_bubbles_sent_in_a_row_are_one_turn_under_rasa_run(trained_bot: Path) -> None:
    """`merge_window`: "ok so" then "help", a moment apart, reach a real `rasa run` as one
    message, so the bot answers the whole thought (help) and not the first bubble alone.
    "ok so" announces more (`merge_mode: lead_ins`), "help" does not: the turn starts when
    it arrives, long before the window, which is longer than the wait for the reply.
    The metrics page (`metrics: true`) counts both webhooks and the bubble that joined."""
    import httpx

    extra = "  merge_window: 30\n  metrics: true\n"
    with bot_stack(trained_bot, "current", extra, rasa_args=("--enable-api",)) as stack:
        contact = new_contact()
        first = stack.say(contact, "ok so")
        second = stack.say(contact, "help")
        completed = time.monotonic()
        replies(stack, contact, "Here is what I can show you")
        waited = time.monotonic() - completed
        answered = stack.bot_messages(contact)
        tracker = httpx.get(f"{stack.rasa_url}/conversations/{contact}/tracker", timeout=30)

        def counted() -> List[str]:  # once the turn's claims are done, after the reply
            url = f"{stack.rasa_url}/webhooks/imessage/metrics"
            lines = httpx.get(url, timeout=30).text.splitlines()
            return lines if 'rasa_imessage_turns_total{outcome="done"} 1' in lines else []

        metrics = wait_until(counted, 30, "the turn counted on the metrics page")
    assert answered[0]["text"].startswith("Here is what I can show you")
    assert waited < 30, "the turn waited out the window though the thought was complete"
    assert 'rasa_imessage_webhooks_total{answer="accepted"} 2' in metrics
    assert "rasa_imessage_bubbles_joined_total 1" in metrics
    users = [event for event in tracker.json()["events"] if event["event"] == "user"]
    assert [event["text"] for event in users] == ["ok so\nhelp"]
    assert users[0]["parse_data"]["intent"]["name"] == "help"
    assert users[0]["metadata"]["message_ids"] == [first["id"], second["id"]]


def test_only_allowed_contacts_are_answered_under_rasa_run(trained_bot: Path) -> None:
    """`allowed_contacts`: a stranger's message is acknowledged and ignored by a real `rasa
    run` (nothing in its tracker, no reply), while the listed contact, written in another
    spacing than LoopMessage's E.164, is answered."""
    import httpx

    extra = '  allowed_contacts: ["+1 (323) 555-9001"]\n  metrics: true\n'
    with bot_stack(trained_bot, "current", extra, rasa_args=("--enable-api",)) as stack:
        stack.say("+13235559002", "hi")  # the stranger first: their turn would come first
        stack.say("+13235559001", "hi")
        replies(stack, "+13235559001", "example bot")
        metrics = httpx.get(f"{stack.rasa_url}/webhooks/imessage/metrics", timeout=30).text
        stranger = httpx.get(f"{stack.rasa_url}/conversations/+13235559002/tracker", timeout=30)
        answered_stranger = stack.bot_messages("+13235559002")
    assert 'rasa_imessage_webhooks_total{answer="ignored"} 1' in metrics.splitlines()
    assert 'rasa_imessage_webhooks_total{answer="accepted"} 1' in metrics.splitlines()
    assert answered_stranger == []
    assert not [event for event in stranger.json()["events"] if event["event"] == "user"]
