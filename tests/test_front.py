"""`webhook_port`: webhooks answered by a process of their own while Rasa's loop computes.

The channel runs inside Rasa's own app (`configure_app`) with a stand-in agent, as in
test_channel.py; the webhook port is the real process (front_process.py) on 127.0.0.1,
posted to over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import threading
from typing import Any, Dict, Iterator, List, Optional

import httpx
import pytest
from lm_standin import TYPING_PATH, LoopMessageStandIn

from rasa_imessage.rasa_process import free_port

pytest.importorskip("rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'")
from channel_kit import AUTH, inbound, make_app, send_webhook, served, until

from rasa_imessage.channel import IMessageInput
from rasa_imessage.config import ConfigError, load_config
from rasa_imessage.front import FrontError, WebhookFront
from rasa_imessage.metrics import WEBHOOKS

pytestmark = pytest.mark.rasa

PATH = "/webhooks/imessage/webhook"


@pytest.fixture
async def lm(lm: LoopMessageStandIn) -> LoopMessageStandIn:
    return lm.accept_everything()


def front_app(lm: LoopMessageStandIn, **credentials: Any) -> Any:
    settings = {"webhook_port": str(free_port()), "webhook_host": "127.0.0.1", **credentials}
    return make_app(settings, lm=lm)


def front_url(channel: IMessageInput) -> str:
    front = channel._front
    assert front is not None and front.port, "the webhook port's process is not running"
    return f"http://127.0.0.1:{front.port}"


async def post_until(
    http: httpx.AsyncClient, body: Any, refused: int, seconds: float = 10
) -> httpx.Response:
    """Post again while the answer is `refused`, as LoopMessage retries (the process learns
    of the bot's state and of each claim's end a moment after the bot's process)."""
    for _ in range(int(seconds / 0.05)):
        response = await post_front(http, body)
        if response.status_code != refused:
            return response
        await asyncio.sleep(0.05)
    return response


def hold_turns(bot: Any) -> asyncio.Event:
    """Turns that wait, as on a slow action server, until the event is set."""
    held = asyncio.Event()

    async def held_turn(message: Any) -> None:
        bot.messages.append(message)
        await held.wait()

    bot.agent.handle_message.side_effect = held_turn
    return held


async def running_and_reported(bot: Any) -> None:
    """A held turn has started, and the bot's state report since has told the port's
    process it is pending (reports go every 0.5 s)."""
    await until(lambda: bot.messages, "the turn to start")
    await asyncio.sleep(0.7)


async def post_front(
    http: httpx.AsyncClient, body: Any, auth: Optional[str] = AUTH
) -> httpx.Response:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {} if auth is None else {"Authorization": auth}
    return await http.post(PATH, content=content, headers=headers)


async def test_a_webhook_on_the_port_is_acked_and_its_turn_answers_the_contact(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = front_app(lm, typing_seconds="5")
    async with served(app), httpx.AsyncClient(base_url=front_url(channel)) as http:
        response = await post_front(http, inbound("hello there"))
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        health = (await http.get("/webhooks/imessage/")).json()
        await channel.turns.join()
    (message,) = bot.messages
    assert (message.sender_id, message.text, message.message_id) == (
        "+13231112233", "hello there", "M-1",
    )  # fmt: skip
    assert message.metadata["webhook_id"] == "W-1"
    assert [sent["text"] for sent in lm.sends()] == ["hello"]
    (typing,) = [call for call in lm.calls if call.path == TYPING_PATH]
    assert typing.json["message_id"] == "M-1"
    assert health["status"] == "ok" and health["channel"] == "imessage"


async def test_the_ack_does_not_wait_for_a_turn_that_holds_rasas_loop(
    lm: LoopMessageStandIn,
) -> None:
    """A turn computing for seconds without an await (a slow pipeline) blocks Sanic's
    answers; the port's are given meanwhile. The turn blocks Rasa's loop until another
    thread has had the second webhook acked, or for 10 s if that ack never comes."""
    app, channel, bot = front_app(lm)
    acked_while_blocked = threading.Event()
    statuses: List[int] = []
    released_by_the_ack: List[bool] = []

    def post_second_webhook(url: str) -> None:
        second = inbound("second", contact="+13239998877", message_id="M-2", webhook_id="W-2")
        response = httpx.post(url + PATH, json=second, headers={"Authorization": AUTH})
        statuses.append(response.status_code)
        acked_while_blocked.set()

    async def computing_turn(message: Any) -> None:
        bot.messages.append(message)
        if message.text == "first":
            poster = threading.Thread(target=post_second_webhook, args=(front_url(channel),))
            poster.start()
            # Blocks the loop, as CPU-bound Rasa code does.
            released_by_the_ack.append(acked_while_blocked.wait(10))
            poster.join()
        await message.output_channel.send_response(message.sender_id, {"text": "ok"})

    bot.agent.handle_message.side_effect = computing_turn
    async with served(app) as http:
        await send_webhook(http, inbound("first"))
        await until(lambda: len(bot.messages) == 2, "the second webhook's turn")
        await channel.turns.join()
    assert released_by_the_ack == [True] and statuses == [200]
    assert [message.text for message in bot.messages] == ["first", "second"]


async def test_the_port_gives_the_same_answers_to_bad_and_repeated_webhooks(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = front_app(lm, max_body_bytes="2048")
    held = hold_turns(bot)
    async with served(app), httpx.AsyncClient(base_url=front_url(channel)) as http:
        wrong = await post_front(http, inbound(), auth="wrong")
        missing = await post_front(http, inbound(), auth=None)
        broken = await post_front(http, b"{not json")
        no_text = await post_front(http, {"event": "message_inbound"})
        exactly = inbound("", contact="+13239990000", message_id="M-X", webhook_id="W-X")
        exactly["text"] = "x" * (2048 - len(json.dumps(exactly)))
        assert len(json.dumps(exactly)) == 2048
        at_the_bound = await post_front(http, exactly)
        just_over = await post_front(http, inbound("x" * 2100))
        far_over = await post_front(http, inbound("x" * 3_000_000))
        first = await post_front(http, inbound())
        while_running = await post_front(http, inbound())
        held.set()
        await channel.turns.join()
        after = await post_until(http, inbound(), refused=409)
        delivered = await post_front(
            http, {"event": "message_delivered", "message_id": "OUT-1", "webhook_id": "W-9",
                   "contact": "+13231112233"},
        )  # fmt: skip
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert "Authorization" in wrong.json()["error"]
    assert broken.status_code == 400 and broken.json()["error"]
    assert no_text.status_code == 400 and no_text.json()["error"]
    assert at_the_bound.status_code == 200  # as on Rasa's port: the bound itself is taken
    assert just_over.status_code == 413 and "max_body_bytes" in just_over.json()["error"]
    assert far_over.status_code == 413 and "max_body_bytes" in far_over.json()["error"]
    assert first.status_code == 200
    assert while_running.status_code == 409
    assert after.json() == {"status": "duplicate"}
    assert delivered.status_code == 200 and delivered.json() == {"status": "ok"}
    assert sorted(message.message_id for message in bot.messages) == ["M-1", "M-X"]


async def test_the_ports_answers_reach_the_metrics_on_rasas_port(
    lm: LoopMessageStandIn,
) -> None:
    """The process counts its answers and reports them with the bot's state frames."""
    app, channel, _ = front_app(lm, metrics="true")
    expected = {"accepted": 1, "duplicate": 1, "unauthorized": 1, "bad_request": 1}
    async with served(app) as rasa, httpx.AsyncClient(base_url=front_url(channel)) as http:
        await post_front(http, inbound(), auth="wrong")
        await post_front(http, b"{not json")
        await post_front(http, inbound())
        await channel.turns.join()
        await post_until(http, inbound(), refused=409)
        for _ in range(100):  # reported within a state frame or two (0.5 s apart)
            counted = {answer: channel.metrics.value(WEBHOOKS, answer) for answer in expected}
            if counted == expected:
                break
            await asyncio.sleep(0.05)
        page = (await rasa.get("/webhooks/imessage/metrics")).text
    assert counted == expected
    assert 'rasa_imessage_webhooks_total{answer="unauthorized"} 1' in page.splitlines()


@pytest.mark.parametrize("reported", [False, True], ids=["in-the-pipe", "reported"])
async def test_a_full_queue_is_counted_on_the_port_and_the_claim_is_released(
    lm: LoopMessageStandIn, reported: bool
) -> None:
    """The 503 is decided before the ack: what was acked is always queued. The port counts
    the turn it handed over while it is in the pipe, then once the bot's state report
    has it among the pending turns, never twice nor not at all."""
    app, channel, bot = front_app(lm, max_queued_turns="1")
    held = hold_turns(bot)
    second = inbound("again", contact="+13239998877", message_id="M-2", webhook_id="W-2")
    async with served(app), httpx.AsyncClient(base_url=front_url(channel)) as http:
        assert (await post_front(http, inbound())).status_code == 200
        if reported:
            await running_and_reported(bot)
        refused = await post_front(http, second)
        held.set()
        await channel.turns.join()
        retried = await post_until(http, second, refused=503)  # LoopMessage's retry
        await channel.turns.join()
    assert refused.status_code == 503 and "LoopMessage will retry" in refused.json()["error"]
    assert retried.status_code == 200
    assert [message.text for message in bot.messages] == ["hi", "again"]


async def test_the_drain_starts_once_the_port_has_closed_and_handed_over_what_it_acked(
    lm: LoopMessageStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`close_port` returns on the process's word that its port is closed and every webhook
    it acked is in the pipe, not on a timeout, and nothing reaches the port after it."""
    from rasa_imessage import front

    app, channel, bot = front_app(lm)
    async with served(app):
        url = front_url(channel)
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await post_front(http, inbound())).status_code == 200
        assert channel._front is not None
        monkeypatch.setattr(front, "STOP_TIMEOUT", 600)  # only the process's answer ends it
        try:
            await asyncio.wait_for(channel._front.close_port(), 10)
        finally:
            monkeypatch.undo()  # the server's own stop, failed or not, waits as usual
        async with httpx.AsyncClient(base_url=url) as late:
            with pytest.raises(httpx.ConnectError):
                await post_front(late, inbound("late", message_id="M-2", webhook_id="W-2"))
        await channel.turns.join()
    assert [message.text for message in bot.messages] == ["hi"]


async def test_webhooks_wait_for_the_model_and_the_port_closes_with_the_server(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = front_app(lm)
    bot.ready = False
    async with served(app):
        url = front_url(channel)
        async with httpx.AsyncClient(base_url=url) as http:
            loading = await post_front(http, inbound())
            bot.ready = True
            ready = await post_until(http, inbound(), refused=503)
        # Acked turns are queued before the drain, so this one runs before the stop.
    assert loading.status_code == 503 and "not loaded" in loading.json()["error"]
    assert ready.status_code == 200
    assert [message.text for message in bot.messages] == ["hi"]
    assert channel._front is None
    with pytest.raises(httpx.ConnectError):
        httpx.post(url + PATH, json=inbound(), headers={"Authorization": AUTH})


async def test_with_a_shared_store_the_port_claims_in_redis_and_the_turn_completes_it(
    lm: LoopMessageStandIn, redis_url: str
) -> None:
    import redis

    app, channel, bot = front_app(lm, dedupe_store=redis_url)
    async with served(app), httpx.AsyncClient(base_url=front_url(channel)) as http:
        assert (await post_front(http, inbound())).status_code == 200
        await channel.turns.join()
        again = await post_until(http, inbound(), refused=409)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert client.get("rasa_imessage:webhook:W-1") == "done"
    assert client.zcard("rasa_imessage:pending") == 0
    assert again.json() == {"status": "duplicate"}
    assert len(bot.messages) == 1


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


async def test_a_port_that_is_taken_is_named_in_the_error(taken_port: int) -> None:
    config = load_config({"api_key": "k", "webhook_auth": "s", "webhook_port": str(taken_port),
                          "webhook_host": "127.0.0.1"})  # fmt: skip
    front = WebhookFront(config, lambda *_: None, lambda: (True, False, 0))
    with pytest.raises(FrontError, match=rf"cannot listen on 127.0.0.1:{taken_port}: .*in use"):
        await front.start()
    assert front.pid is None


async def test_a_process_that_dies_is_started_again_and_the_port_answers(
    lm: LoopMessageStandIn,
) -> None:
    app, channel, bot = front_app(lm)
    async with served(app):
        await kill_the_process_and_await_the_next(channel)
        async with httpx.AsyncClient(base_url=front_url(channel)) as http:
            answered = await post_until(http, inbound(), refused=503)
            await channel.turns.join()
    assert answered.status_code == 200 and len(bot.messages) == 1


async def kill_the_process_and_await_the_next(channel: IMessageInput) -> None:
    front = channel._front
    assert front is not None and front.pid is not None
    first_pid = front.pid
    os.kill(first_pid, signal.SIGKILL)
    for _ in range(200):
        if front.pid not in (None, first_pid):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no new process for the webhook port within 10 s")


async def test_the_process_ends_with_the_server(lm: LoopMessageStandIn) -> None:
    app, channel, _ = front_app(lm)
    async with served(app):
        assert channel._front is not None
        pid = channel._front.pid
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"webhook_port": "70000"}, "above the maximum 65535"),
        ({"webhook_port": "five"}, "expected a whole number"),
        ({"webhook_host": "0.0.0.0/8"}, "expected an address to listen on"),
    ],
)
def test_bad_port_settings_are_named(settings: Dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({"api_key": "k", "webhook_auth": "s", **settings})


def test_an_empty_port_means_off() -> None:
    config = load_config({"api_key": "k", "webhook_auth": "s", "webhook_port": ""})
    assert config.webhook_port is None and config.webhook_host == "0.0.0.0"


async def test_with_a_shared_store_a_failed_turn_releases_the_claim_the_port_made(
    lm: LoopMessageStandIn, redis_url: str
) -> None:
    """The port's process hands its Redis claim over; releasing it needs that claim's token,
    so a retry of a webhook whose turn failed runs again instead of getting 409 until the
    lease runs out."""
    app, channel, bot = front_app(lm, dedupe_store=redis_url)
    failures = [RuntimeError("the bot failed")]

    async def failing_once(message: Any) -> None:
        bot.messages.append(message)
        if failures:
            raise failures.pop()

    bot.agent.handle_message.side_effect = failing_once
    async with served(app), httpx.AsyncClient(base_url=front_url(channel)) as http:
        first = await post_front(http, inbound())
        await channel.turns.join()
        retry = await post_front(http, inbound())  # LoopMessage's retry
        await channel.turns.join()
    assert (first.status_code, retry.status_code) == (200, 200)
    assert len(bot.messages) == 2


async def test_both_ports_keep_one_list_of_handled_webhooks(lm: LoopMessageStandIn) -> None:
    """With the in-memory store, Rasa's port claims in the port's process: a webhook whose
    retry lands on the other port (the URL was changed meanwhile) runs one turn."""
    app, channel, bot = front_app(lm)
    held = hold_turns(bot)
    on_rasa = inbound("first", webhook_id="W-RASA", message_id="M-RASA")
    on_port = inbound("second", webhook_id="W-PORT", message_id="M-PORT")
    async with served(app) as rasa, httpx.AsyncClient(base_url=front_url(channel)) as port:
        first = await send_webhook(rasa, on_rasa)
        second = await post_front(port, on_port)
        running_elsewhere = [
            (await post_front(port, on_rasa)).status_code,
            (await send_webhook(rasa, on_port)).status_code,
        ]
        held.set()
        await channel.turns.join()
        done_elsewhere = [
            (await post_until(port, on_rasa, refused=409)).json(),
            (await send_webhook(rasa, on_port)).json(),
        ]
    assert (first.status_code, second.status_code) == (200, 200)
    assert running_elsewhere == [409, 409]
    assert done_elsewhere == [{"status": "duplicate"}] * 2
    assert sorted(message.text for message in bot.messages) == ["first", "second"]


async def test_claims_on_rasas_port_are_deferred_while_the_process_is_down() -> None:
    """Restarting, the process holds the list: Rasa's port answers 503 meanwhile, as when
    Redis is down, and LoopMessage retries."""
    from rasa_imessage.front import FrontStore
    from rasa_imessage.idempotency import StoreUnavailable

    with pytest.raises(StoreUnavailable, match="not running"):
        await FrontStore(lambda: None).claim("W-1")


async def test_a_turn_from_the_port_counts_once_against_max_queued_turns(
    lm: LoopMessageStandIn,
) -> None:
    """The port's process counts what the bot's process reported, and its own hand-overs the
    bot had not read then; counted twice, the second webhook here would get 503."""
    app, channel, bot = front_app(lm, max_queued_turns="2")
    held = hold_turns(bot)
    second = inbound("again", contact="+13239998877", message_id="M-2", webhook_id="W-2")
    async with served(app), httpx.AsyncClient(base_url=front_url(channel)) as http:
        first = await post_front(http, inbound())
        await running_and_reported(bot)
        accepted = await post_front(http, second)
        held.set()
        await channel.turns.join()
    assert (first.status_code, accepted.status_code) == (200, 200)
    assert [message.text for message in bot.messages] == ["hi", "again"]


async def test_a_webhook_the_port_acked_runs_even_if_the_queue_filled_meanwhile(
    lm: LoopMessageStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The port's process judges the queue by the bot's last state report. Webhooks on
    Rasa's own port can fill the queue before the next one: a webhook the port has acked
    meanwhile still runs, over the bound, never dropped after its 200."""
    from rasa_imessage import front

    monkeypatch.setattr(front, "STATE_INTERVAL", 60)  # no report after the first one
    app, channel, bot = front_app(lm, max_queued_turns="2")
    held = hold_turns(bot)
    bodies = [inbound(f"turn {n}", contact=f"+1323999000{n}", message_id=f"M-{n}",
                      webhook_id=f"W-{n}") for n in (1, 2, 3)]  # fmt: skip
    async with served(app) as rasa_port, httpx.AsyncClient(base_url=front_url(channel)) as http:
        for body in bodies[:2]:  # Rasa's port: the queue is full
            assert (await send_webhook(rasa_port, body)).status_code == 200
        assert channel.turns.pending == 2
        acked = await post_front(http, bodies[2])  # the port last heard of an empty queue
        await until(lambda: channel.turns.pending == 3, "the hand-over through the pipe")
        held.set()
        await channel.turns.join()
    assert acked.status_code == 200
    assert sorted(message.text for message in bot.messages) == ["turn 1", "turn 2", "turn 3"]


# -- `public_url` naming the port: the bot's own files served there --------------------------

PICTURE = b"\x89PNG\r\n\x1a\n-a-chart"


def media_front_app(lm: LoopMessageStandIn, tmp_path: Any, **credentials: Any) -> Any:
    """A channel whose `public_url` is `webhook_port`'s address, replying with a made
    picture (a `data:` URL) and a file from `media_dir` (its name needs percent-encoding)."""
    import base64

    port = free_port()
    (tmp_path / "menu 100%.pdf").write_bytes(b"%PDF-1.4 menu")
    app, channel, bot = front_app(
        lm, webhook_port=str(port), public_url=f"http://127.0.0.1:{port}",
        media_dir=str(tmp_path), metrics="true", **credentials,
    )  # fmt: skip
    made = "data:image/png;base64," + base64.b64encode(PICTURE).decode()
    bot.reply = [
        {"text": "Your chart:", "image": made},
        {"text": None, "attachment": "menu 100%.pdf"},
    ]
    return app, channel, bot


async def sent_urls(
    http: httpx.AsyncClient, channel: IMessageInput, lm: LoopMessageStandIn
) -> List[str]:
    assert (await post_front(http, inbound("chart please"))).status_code == 200
    await channel.turns.join()
    await channel.conversations.stop_side_work()
    return [url for sent in lm.sends() for url in sent.get("attachments", [])]


async def test_a_public_url_naming_the_port_serves_the_bots_files_there(
    lm: LoopMessageStandIn, tmp_path: Any
) -> None:
    """One server, `dedupe_store: memory`: the bot's process gives each `data:` file to the
    port's process before the send names it; files in `media_dir` are read there from disk.
    Same answers as on Rasa's port: ranges, a bare 404, and the fetches in the metrics."""
    app, channel, _ = media_front_app(lm, tmp_path)
    async with served(app) as rasa, httpx.AsyncClient(base_url=front_url(channel)) as http:
        chart, menu = await sent_urls(http, channel, lm)
        assert chart.startswith(front_url(channel) + "/webhooks/imessage/media/d/")
        got = await http.get(chart)
        assert (got.status_code, got.headers["content-type"], got.content) == (
            200, "image/png", PICTURE)  # fmt: skip
        assert got.headers["x-content-type-options"] == "nosniff"
        got = await http.get(menu, headers={"Range": "bytes=0-3"})
        assert (got.status_code, got.content, got.headers["content-range"]) == (
            206, b"%PDF", "bytes 0-3/13")  # fmt: skip
        head = await http.head(menu)
        assert head.status_code == 200 and head.content == b""
        for wrong in (chart.replace("/d/", "/f/"), menu.rsplit("/", 1)[0] + "/%2E%2E%2Fx.pdf"):
            got = await http.get(wrong)
            assert got.status_code == 404 and got.json() == {"error": "not found"}
        for _ in range(100):  # reported within a state frame or two (0.5 s apart)
            page = (await rasa.get("/webhooks/imessage/metrics")).text.splitlines()
            if 'rasa_imessage_media_fetches_total{answer="not_found"} 2' in page:
                break
            await asyncio.sleep(0.05)
    assert 'rasa_imessage_media_fetches_total{answer="served"} 3' in page
    assert 'rasa_imessage_media_fetches_total{answer="not_found"} 2' in page


async def test_a_restarted_port_process_is_given_the_made_files_again(
    lm: LoopMessageStandIn, tmp_path: Any
) -> None:
    app, channel, _ = media_front_app(lm, tmp_path)
    async with served(app), httpx.AsyncClient(base_url=front_url(channel)) as http:
        chart, _ = await sent_urls(http, channel, lm)
        front = channel._front
        assert front is not None and [body for _, body, _ in front._kept_files()] == [PICTURE]
        await kill_the_process_and_await_the_next(channel)
        got = await http.get(chart)
    assert (got.status_code, got.content) == (200, PICTURE)


@pytest.mark.redis
async def test_with_redis_the_port_reads_made_files_from_it(
    lm: LoopMessageStandIn, tmp_path: Any, redis_url: str
) -> None:
    """Replicas: the bot's process writes each `data:` file to Redis before the send, and
    the port's process, of this replica or another, reads it there; so a restarted one is
    handed no copy of them (one server without Redis is: above)."""
    app, channel, _ = media_front_app(lm, tmp_path, dedupe_store=redis_url)
    async with served(app), httpx.AsyncClient(base_url=front_url(channel)) as http:
        chart, _ = await sent_urls(http, channel, lm)
        got = await http.get(chart)
        front = channel._front
        assert front is not None and list(front._kept_files()) == []
        await kill_the_process_and_await_the_next(channel)
        again = await http.get(chart)
    assert (got.status_code, got.content) == (200, PICTURE)
    assert (again.status_code, again.content) == (200, PICTURE)
