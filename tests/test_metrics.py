"""`metrics: true`: the counters at `GET /webhooks/imessage/metrics`, read with Prometheus's
own parser, through Rasa's app (`configure_app`) and the LoopMessage stand-in."""

from __future__ import annotations

from typing import Any, Dict, Tuple

import pytest
from lm_standin import SEND_PATH, TYPING_PATH, LoopMessageStandIn
from prometheus_client.parser import text_string_to_metric_families

from rasa_imessage.breaker import BREAK_AFTER
from rasa_imessage.metrics import BUBBLES_JOINED, SENDS, WEBHOOKS, Metrics

# (metric sample name, label value or None) -> value
Samples = Dict[Tuple[str, Any], float]


def parsed(page: str) -> Samples:
    """The page as Prometheus reads it; a page it cannot read fails here."""
    samples: Samples = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            label = next(iter(sample.labels.values()), None)
            samples[sample.name, label] = sample.value
    return samples


def test_the_page_parses_as_prometheus_reads_it_every_counter_listed() -> None:
    metrics = Metrics()
    metrics.add(WEBHOOKS, "accepted")
    metrics.add(WEBHOOKS, "accepted")
    metrics.add_all(WEBHOOKS, {"duplicate": 3, "accepted": 1})
    metrics.add(SENDS, "sent", 4)
    page = metrics.render([("rasa_imessage_turns_pending", "Turns queued", lambda: 2)])
    samples = parsed(page)
    assert samples["rasa_imessage_webhooks_total", "accepted"] == 3
    assert samples["rasa_imessage_webhooks_total", "duplicate"] == 3
    assert samples["rasa_imessage_sends_total", "sent"] == 4
    assert samples["rasa_imessage_bubbles_joined_total", None] == 0  # listed before any count
    assert samples["rasa_imessage_turns_pending", None] == 2
    assert page.count("# TYPE ") == 8  # seven counters and the gauge


def test_a_label_value_is_escaped() -> None:
    metrics = Metrics()
    metrics.add(WEBHOOKS, 'odd "value"\\\nhere')
    assert parsed(metrics.render())["rasa_imessage_webhooks_total", 'odd "value"\\\nhere'] == 1


rasa_run = pytest.importorskip(
    "rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'"
)
from channel_kit import inbound, make_app, send_webhook, served  # noqa: E402

METRICS_URL = "/webhooks/imessage/metrics"


async def test_metrics_count_answers_turns_sends_and_delivery_failures(
    lm: LoopMessageStandIn,
) -> None:
    lm.accept_everything()
    app, channel, _ = make_app({"metrics": "true", "typing_delay": "0"}, lm=lm)
    failed = {"event": "message_failed", "contact": "+13231112233", "message_id": "OUT-1",
              "webhook_id": "W-F", "error_code": 100}  # fmt: skip
    async with served(app) as http:
        await send_webhook(http, inbound("hi"))
        await channel.turns.join()
        await send_webhook(http, inbound("hi"))  # LoopMessage's retry
        await send_webhook(http, inbound("hello", message_id="M-2", webhook_id="W-2"))
        await send_webhook(http, inbound("hi"), auth="wrong")
        await send_webhook(http, b"{not json")
        await send_webhook(http, {"event": "message_delivered", "message_id": "OUT-1",
                                  "webhook_id": "W-D", "contact": "+13231112233"})  # fmt: skip
        await send_webhook(http, failed)
        await channel.turns.join()
        await channel.conversations.stop_side_work()
        page = await http.get(METRICS_URL)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parsed(page.text)
    webhooks = {label: value for (name, label), value in samples.items()
                if name == "rasa_imessage_webhooks_total"}  # fmt: skip
    assert webhooks == {"accepted": 3, "duplicate": 1, "unauthorized": 1, "bad_request": 1,
                        "status": 1}  # fmt: skip
    assert samples["rasa_imessage_turns_total", "done"] == 3
    assert samples["rasa_imessage_delivery_failures_total", None] == 1  # not the messages'
    # the bot's replies to "hi" and "hello", and its answer to the delivery-failed intent
    assert samples["rasa_imessage_sends_total", "sent"] == len(lm.sends()) == 3
    assert samples["rasa_imessage_typing_calls_total", "ok"] == 2
    assert samples["rasa_imessage_turns_pending", None] == 0
    assert "+1323" not in page.text and "hook-secret" not in page.text


async def test_without_the_option_there_is_no_metrics_page(lm: LoopMessageStandIn) -> None:
    app, _, _ = make_app({}, lm=lm.accept_everything())
    async with served(app) as http:
        assert (await http.get(METRICS_URL)).status_code == 404


async def test_a_failed_send_counts_the_bubbles_it_stopped(lm: LoopMessageStandIn) -> None:
    lm.refuse_sends(520)
    app, channel, bot = make_app({"metrics": "true", "typing_seconds": "0",
                                  "mark_read": "false", "max_retries": "0",
                                  "delivery_failed_intent": "false"}, lm=lm)  # fmt: skip
    bot.reply = [{"text": "one\n\ntwo\n\nthree"}]  # three bubbles of one response
    async with served(app) as http:
        await send_webhook(http, inbound("hi"))
        await channel.turns.join()
        await channel.conversations.stop_side_work()
    assert (channel.metrics.value(SENDS, "sent"), channel.metrics.value(SENDS, "failed"),
            channel.metrics.value(SENDS, "skipped")) == (0, 1, 2)  # fmt: skip


async def test_typing_calls_count_failures_then_the_pause(lm: LoopMessageStandIn) -> None:
    lm.post(SEND_PATH).respond(200, json={"message_id": "OUT", "success": True})
    lm.post(TYPING_PATH).respond(400, json={"success": False, "code": 1000, "message": "no"})
    app, channel, _ = make_app({"metrics": "true", "typing_delay": "0", "max_retries": "0"},
                               lm=lm)  # fmt: skip
    async with served(app) as http:
        for number in range(BREAK_AFTER + 3):
            await send_webhook(http, inbound("hi", message_id=f"M-{number}",
                                             webhook_id=f"W-{number}"))  # fmt: skip
            await channel.turns.join()
        samples = parsed((await http.get(METRICS_URL)).text)
    assert samples["rasa_imessage_typing_calls_total", "failed"] == BREAK_AFTER
    assert samples["rasa_imessage_typing_calls_total", "paused"] == 3
    assert samples["rasa_imessage_typing_paused", None] == 1


async def test_bubbles_joining_a_turn_are_counted(lm: LoopMessageStandIn) -> None:
    app, channel, _ = make_app(
        {"metrics": "true", "merge_window": "30", "typing_seconds": "0", "mark_read": "false"},
        lm=lm.accept_everything(),
    )
    async with served(app) as http:
        for number, text in enumerate(["look at this", "https://example.com/flat"]):
            await send_webhook(http, inbound(text, message_id=f"M-{number}",
                                             webhook_id=f"W-{number}"))  # fmt: skip
        await channel.turns.join()
    assert channel.metrics.value(BUBBLES_JOINED) == 1
    assert channel.metrics.value(WEBHOOKS, "accepted") == 2
