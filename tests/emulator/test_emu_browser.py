"""The chat page in real headless Chromium, driven like a person would drive it.

The first test runs the page against a stand-in bot (fast, no Rasa); the e2e test runs the
real example bot under ``rasa run`` through ``demo_stack`` and saves the README screenshot.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
REPO = Path(__file__).resolve().parents[2]
# The README's picture is refreshed on request only (RASA_IMESSAGE_SCREENSHOT=docs/emulator.png),
# so that running the tests never leaves a tracked file changed.
SCREENSHOT_ENV = "RASA_IMESSAGE_SCREENSHOT"

pytestmark = pytest.mark.browser

# Set once a typing bubble has been in the DOM: the indicator may be short-lived, so a
# MutationObserver records it instead of a test polling for it.
WATCH_TYPING = """() => {
  window.sawTyping = false;
  new MutationObserver(() => {
    if (document.querySelector('#messages .typing-row')) window.sawTyping = true;
  }).observe(document.getElementById('messages'), {childList: true});
}"""


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's Chromium at /usr/bin/chromium: apt-get install chromium")
    api = pytest.importorskip("playwright.async_api", reason="pip install playwright")
    async with api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    await context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


async def open_chat(page, url: str) -> None:
    await page.goto(url)
    await page.wait_for_selector("#connection:not(.down)")
    await page.wait_for_selector("#messages .empty, #messages .row")
    await page.evaluate(WATCH_TYPING)


async def say(page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


def bot_bubbles(page):
    return page.locator("#messages .row.them .bubble")


@pytest.mark.parametrize("standin_bot", ["current", "legacy"], indirect=True)
async def test_chat_page_with_a_stand_in_bot(standin_bot, page):
    from playwright.async_api import expect

    emulator = standin_bot.emulator
    await open_chat(page, emulator.url + "/")

    await say(page, "hi")
    await expect(page.locator("#messages .row.me .bubble").last).to_have_text("hi")
    await expect(bot_bubbles(page).last).to_contain_text("1. Yes")
    assert await page.evaluate("window.sawTyping") is True
    await expect(page.locator("#messages .receipt")).to_have_text("Read")
    await expect(page.locator("#conversations .conversation.selected .preview")).to_contain_text(
        "Do you want to see a picture?"
    )

    await say(page, "1")
    image = page.locator("#messages .row.them .media img").last
    await expect(image).to_be_visible()
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#messages .media img')].some(i => i.naturalWidth > 0)"
    )
    await expect(bot_bubbles(page).last).to_have_text("Here is a picture 🌅")

    # A tapback on the bot's question becomes a message_reaction webhook.
    question = page.locator("#messages .row.them").filter(has_text="1. Yes").last
    await question.locator(".bubble").click(button="right")
    await page.locator(".tapback-menu button[data-reaction='love']").click()
    await expect(question.locator(".tapbacks")).to_have_text("❤️")
    await page.wait_for_selector("#log li[data-direction='webhook']:has-text('message_reaction')")

    # A bubble typed while the one before is still being sent is not wiped when it lands:
    # the first bubble's POST is held until the second is typed.
    second_typed = asyncio.Event()
    posts: list[str] = []

    async def hold_the_first(route: Any) -> None:
        if route.request.method == "POST":
            posts.append(route.request.post_data or "")
            if len(posts) == 1:
                await second_typed.wait()
        await route.continue_()

    await page.route("**/emulator/messages", hold_the_first)
    await say(page, "first of two")
    await page.fill("#text", "second of two")
    async with page.expect_response("**/emulator/messages"):
        second_typed.set()  # the first lands while the second is still in the box
    await page.evaluate("() => new Promise((done) => setTimeout(done, 0))")  # its handler ran
    await page.press("#text", "Enter")
    await expect(
        page.locator("#messages .row.me .bubble").filter(has_text="second of two")
    ).to_have_count(1)
    await expect(page.locator("#text")).to_have_value("")
    await page.unroute("**/emulator/messages", hold_the_first)
    assert ["first of two" in posts[0], "second of two" in posts[1]] == [True, True]

    # Text from people and bots is shown as text, never parsed as HTML.
    hostile = '<img src=x onerror="document.body.dataset.owned=1">'
    await say(page, hostile)
    await expect(page.locator("#messages .row.me .bubble").last).to_have_text(hostile)
    assert await page.locator("#messages .row.me .bubble img").count() == 0
    assert await page.evaluate("document.body.dataset.owned") is None


async def test_fault_switch_fails_the_bots_next_send(standin_bot, page):
    from playwright.async_api import expect

    await open_chat(page, standin_bot.emulator.url + "/")
    await page.click(".debug-head button[data-tab='faults']")
    await page.select_option("#fault-send", "550")
    await page.click("#faults button[type='submit']")
    await expect(page.locator("#faults-state")).to_contain_text("next send → 550")

    await say(page, "hello?")
    failed = page.locator("#log li[data-direction='api'][data-status='400']")
    await page.click(".debug-head button[data-tab='log']")
    await expect(failed.first).to_contain_text("code 550")
    await expect(page.locator("#faults-state")).to_have_text("No faults armed.")


async def test_group_and_voice_note(standin_bot, page, tmp_path):
    from playwright.async_api import expect

    await open_chat(page, standin_bot.emulator.url + "/")
    await page.click("#compose")
    await page.click("#new-conversation button[data-mode='group']")
    await page.fill("#new-group-name", "Dinner crew")
    await page.fill("#new-group-people", "+1 323 111 2233, friend@icloud.com")
    await page.click("#new-conversation button[type='submit']")
    await expect(page.locator("#chat-name")).to_have_text("Dinner crew")

    await page.select_option("#as-select", "friend@icloud.com")
    await say(page, "table for 4?")
    await expect(page.locator("#messages .author").first).to_have_text("friend@icloud.com")
    await expect(bot_bubbles(page).last).to_contain_text("Do you want to see a picture?")

    voice = tmp_path / "note.m4a"
    voice.write_bytes(b"\x00\x00\x00\x18ftypM4A ")
    await page.click("#apps-button")
    await page.click("#apps button[data-app='voice']")
    await page.set_input_files("#voice-file", str(voice))
    await page.fill("#voice-transcript", "Can we move it to eight?")
    await page.click("#voice-form button[type='submit']")
    await expect(page.locator("#messages .row.me .transcript")).to_have_text(
        "“Can we move it to eight?”"
    )
    await expect(page.locator("#messages .row.me audio")).to_have_count(1)
    inbound = [m for m in standin_bot.emulator.store.messages.values() if m.speech]
    assert inbound[0].message_type == "audio"
    assert inbound[0].conversation != "friend@icloud.com"  # it went into the group


async def test_several_senders_the_page_writes_to_the_one_picked(make_emulator, http, page):
    """With several senders the page offers a To menu; each bubble says which sender it went
    to or came from, and a send naming no sender comes from the one last written to."""
    from playwright.async_api import expect

    emulator = await make_emulator(senders=("sender-main", "sender-support"))
    await open_chat(page, emulator.url + "/")
    await expect(page.locator("#to-label")).to_be_visible()
    await expect(page.locator("#chat-subtitle")).to_have_text("iMessage with the bot (sender-main)")
    await page.select_option("#to-select", "sender-support")
    await expect(page.locator("#chat-subtitle")).to_contain_text("(sender-support)")
    await say(page, "need help")
    await expect(page.locator("#messages .row.me .via")).to_have_text("to sender-support")
    (written,) = emulator.store.messages.values()
    assert (written.text, written.via) == ("need help", "sender-support")

    reply = await http.post(
        f"{emulator.url}/api/v1/message/send/",
        json={"contact": written.conversation, "text": "on it"},
        headers={"Authorization": "emulator-key"},
    )
    assert reply.status_code == 200
    await expect(bot_bubbles(page).last).to_have_text("on it")
    await expect(page.locator("#messages .row.them .via")).to_have_text("from sender-support")


async def test_an_opened_opt_in_link_has_its_message_ready_to_send(
    make_emulator, receiver, http, page
):
    from playwright.async_api import expect

    emulator = await make_emulator(webhook_url=receiver.url)
    made = await http.post(f"{emulator.url}/api/v1/opt-in/generate-url/",
                           json={"body": "Count me in [opt-in-code]", "ref": "poster"},
                           headers={"Authorization": "emulator-key"})  # fmt: skip
    await page.goto(made.json()["url"])
    await page.wait_for_selector("#connection:not(.down)")
    await expect(page.locator("#text")).to_have_value(re.compile(r"^Count me in [A-Z0-9]{6}$"))
    assert "compose" not in page.url  # not sent again on a reload
    await page.press("#text", "Enter")
    hook = await receiver.next("message_inbound")
    assert (hook.body["type"], hook.body["parameters"]) == ("opt_in", {"ref": "poster"})


def _open_source_rasa(python: str) -> bool:
    """Whether ``python`` has Rasa Open Source: Rasa Pro cannot ``rasa run`` unlicensed."""
    probe = "from importlib import metadata as m; m.version('rasa'); print(m.version('rasa'))"
    try:
        found = subprocess.run([python, "-c", probe], capture_output=True, timeout=60, check=False)
    except OSError:
        return False
    pro = subprocess.run(
        [python, "-c", "from importlib import metadata as m; m.version('rasa-pro')"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    return found.returncode == 0 and pro.returncode != 0


# Seconds-long waits for Rasa's first turns; every wait still ends at the awaited event.
RASA_TURN_MS = 30_000


@pytest.mark.e2e
async def test_chat_page_with_the_example_bot(page, tmp_path):
    """Type, see the reply and the typing indicator, answer buttons by number, see an image;
    with `merge_window` set (as `demo --merge-window` sets it), every message is still
    answered at once, and "ok so" then "help" get one answer.

    ``RASA_PYTHON`` names an interpreter with Rasa 3.6 when the tests run elsewhere.
    """
    from playwright.async_api import expect

    from rasa_imessage.demo import DemoOptions, demo_stack

    python = os.environ.get("RASA_PYTHON", sys.executable)
    if not _open_source_rasa(python):
        pytest.skip(f"{python} has no Rasa Open Source 3.6 (set RASA_PYTHON to one that has)")
    bot_dir = REPO / "example_bot"
    # Longer than any wait below: a message held for the window would fail its wait.
    options = DemoOptions(bot_dir=bot_dir, rasa_command=(python, "-m", "rasa"), merge_window=30)
    async with demo_stack(options) as stack:
        await open_chat(page, stack.page_url)
        bot = bot_bubbles(page)

        await say(page, "hi")
        await expect(bot.filter(has_text="Try one of these")).to_be_visible(timeout=RASA_TURN_MS)
        assert await page.evaluate("window.sawTyping") is True

        await say(page, "mood")
        await expect(bot.last).to_contain_text("2. Not so good", timeout=RASA_TURN_MS)
        await say(page, "1")
        await expect(bot.last).to_have_text("Great, carry on! 🙌", timeout=RASA_TURN_MS)

        await say(page, "picture")
        await expect(bot.last).to_have_text("A picture, as promised:", timeout=RASA_TURN_MS)
        image = page.locator("#messages .row.them .media a.image").last
        # example_bot/media/picture.png, served by `rasa run` itself at a signed URL
        hosted = re.compile(r"^http://127\.0\.0\.1:\d+/webhooks/imessage/media/f/.+/picture\.png$")
        await expect(image).to_have_attribute("data-src", hosted)
        await expect(image.locator("img")).to_have_js_property("naturalWidth", 320)  # it loaded
        await say(page, "voice")
        voice = page.locator("#messages .row.them .media audio").last
        await expect(voice).to_have_attribute("src", re.compile(r"/media/f/.+/chime\.wav$"))
        seconds, seekable = await voice.evaluate(
            "audio => new Promise((done, failed) => { audio.onloadedmetadata = () => "
            "done([audio.duration, audio.seekable.length ? audio.seekable.end(0) : 0]); "
            "audio.onerror = () => failed(audio.error.code); audio.load(); })"
        )
        assert 1.1 < seconds < 1.3  # the chime's 1.2 s, read by the browser from rasa run
        assert seekable == seconds  # the server answers ranges: the player can seek

        happy = page.locator("#messages .row.them").filter(has_text="Great, carry on!")
        await happy.locator(".bubble").click(button="right")
        await page.locator(".tapback-menu button[data-reaction='love']").click()
        await expect(bot.last).to_contain_text("love", timeout=RASA_TURN_MS)

        await say(page, "celebrate")
        await expect(bot.last).to_have_text("Congratulations! 🎉", timeout=RASA_TURN_MS)
        await expect(page.locator("#messages .effect-note").last).to_have_text("Sent with Confetti")
        await page.locator(".screen-effect").wait_for(state="detached")
        await page.mouse.move(700, 880)  # off the bubbles: no hover controls in the picture
        target = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "emulator.png")
        target.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(target))
        assert target.stat().st_size > 10_000  # a real picture of the page

        await page.click("#apps-button")
        await page.click("#apps button[data-app='call']")
        await expect(bot.last).to_contain_text("I can't pick up calls", timeout=RASA_TURN_MS)

        answers = await bot.count()
        await say(page, "ok so")  # announces more: it waits for the next bubble
        await expect(page.locator("#messages .row.me .bubble").last).to_have_text("ok so")
        await say(page, "help")
        await expect(bot.last).to_contain_text("Here is what I can show you", timeout=RASA_TURN_MS)
        assert await bot.count() == answers + 1  # "ok so" had no answer of its own

        # The demo serves the connector's counters (metrics: true).
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(stack.metrics_url)).text.splitlines()
        assert "rasa_imessage_bubbles_joined_total 1" in metrics
        assert not [line for line in metrics if 'answer="unauthorized"' in line]
