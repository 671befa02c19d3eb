"""breaker.py, and the pause it puts on show-typing calls that keep failing."""

from __future__ import annotations

import logging
from typing import List

import pytest
from lm_standin import SEND_PATH, TYPING_PATH, LoopMessageStandIn

from rasa_imessage.breaker import BREAK_AFTER, BREAK_FOR, Breaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_it_pauses_after_failures_in_a_row_and_resumes_after_the_pause() -> None:
    clock = Clock()
    breaker = Breaker(after=3, pause=60, clock=clock)
    opened: List[bool] = [breaker.failed() for _ in range(3)]
    assert opened == [False, False, True] and breaker.paused
    clock.now += 59.9
    assert breaker.paused
    clock.now += 0.2
    assert not breaker.paused
    assert [breaker.failed() for _ in range(3)] == [False, False, True]  # three again


def test_a_success_resets_the_count() -> None:
    breaker = Breaker(after=3, pause=60, clock=Clock())
    breaker.failed(), breaker.failed()
    breaker.succeeded()
    assert [breaker.failed() for _ in range(2)] == [False, False]
    assert not breaker.paused


@pytest.mark.rasa
async def test_show_typing_calls_pause_after_failing_again_and_again(
    lm: LoopMessageStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    """A LoopMessage that refuses every show-typing call gets BREAK_AFTER of them, then none
    while paused, one warning in the log; the replies go out all the same."""
    pytest.importorskip("rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'")
    from channel_kit import inbound, make_app, send_webhook, served

    lm.post(SEND_PATH).respond(200, json={"message_id": "OUT", "success": True})
    typing = lm.post(TYPING_PATH).respond(400, json={"success": False, "code": 1000,
                                                       "message": "not for this account"})  # fmt: skip
    app, channel, _ = make_app({"typing_delay": "0", "max_retries": "0"}, lm=lm)
    messages = BREAK_AFTER + 3
    with caplog.at_level(logging.INFO, logger="rasa_imessage"):
        async with served(app) as http:
            for number in range(messages):
                body = inbound("hi", message_id=f"M-{number}", webhook_id=f"W-{number}")
                await send_webhook(http, body)
                await channel.turns.join()
    assert len(typing.calls) == BREAK_AFTER
    assert len(lm.sends()) == messages
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and r.name.startswith("rasa_imessage")]  # fmt: skip
    (warning,) = warnings
    assert warning.startswith(
        f"typing indicators and read receipts paused for {BREAK_FOR:.0f} s: LoopMessage "
        f"refused {BREAK_AFTER} calls in a row, the last with: LoopMessage error 1000"
    )


def test_failures_of_calls_already_on_their_way_during_the_pause_are_not_counted() -> None:
    """Calls started before the pause may fail during it: after the pause it still takes
    `after` failures in a row to pause again."""
    clock = Clock()
    breaker = Breaker(after=3, pause=60, clock=clock)
    for _ in range(3):
        breaker.failed()
    assert [breaker.failed() for _ in range(4)] == [False] * 4  # in flight, while paused
    clock.now += 61
    assert [breaker.failed() for _ in range(3)] == [False, False, True]
