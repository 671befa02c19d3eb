"""TypingIndicator: shown only for a reply that keeps the user waiting; read marked once."""

from __future__ import annotations

import asyncio
from typing import List, Tuple

import pytest

from rasa_imessage import indicator as indicator_module
from rasa_imessage.indicator import TypingIndicator, TypingIndicators

GUARD = 5  # a guard against a hang when a test fails, never a wait a test relies on
LONG = 30.0  # a delay no test waits out


class Calls:
    """A show-typing stand-in that records (seconds, read) and can be held open."""

    def __init__(self) -> None:
        self.made: List[Tuple[int, bool]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, seconds: int, read: bool) -> None:
        self.made.append((seconds, read))
        await self.release.wait()


async def test_a_quick_reply_waits_for_nothing_and_the_message_is_marked_read_alongside() -> None:
    calls = Calls()
    calls.release.clear()  # LoopMessage holds the read receipt's call
    indicator = TypingIndicator(calls, 8, True, LONG)
    over = indicator.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(indicator.before_reply(), 0.5)  # the reply waits for nothing
    await asyncio.sleep(0)
    assert calls.made == [(0, True)]  # no indicator: read only
    assert not over.done()  # the call is still counted as alive ...
    calls.release.set()
    await asyncio.wait_for(over, GUARD)  # ... until it ends
    await indicator.turn_ended()
    assert calls.made == [(0, True)]  # marked read once


async def test_without_mark_read_a_reply_before_the_delay_makes_no_call_at_all() -> None:
    calls = Calls()
    indicator = TypingIndicator(calls, 8, False, LONG)
    over = indicator.start()
    await asyncio.wait_for(indicator.before_reply(), GUARD)
    await indicator.turn_ended()
    assert calls.made == [] and over.cancelled() and not indicator.shown


async def test_a_slow_reply_gets_the_indicator_and_waits_for_it() -> None:
    calls = Calls()
    calls.release.clear()
    indicator = TypingIndicator(calls, 8, True, 0)
    indicator.start()
    await asyncio.sleep(0)
    assert calls.made == [(8, True)] and indicator.shown
    waiting = asyncio.ensure_future(indicator.before_reply())
    await asyncio.sleep(0)
    assert not waiting.done()  # the reply waits for the indicator's call ...
    calls.release.set()
    await asyncio.wait_for(waiting, GUARD)  # ... which lands first
    await indicator.turn_ended()
    assert calls.made == [(8, True)]  # no second call


async def test_with_the_indicator_off_no_reply_waits_for_the_read_receipt() -> None:
    calls = Calls()
    calls.release.clear()  # LoopMessage holds the read receipt's call
    indicator = TypingIndicator(calls, 0, True, 0)  # `typing_seconds: 0`, read at once
    over = indicator.start()
    await asyncio.sleep(0)
    assert calls.made == [(0, True)]
    await asyncio.wait_for(indicator.before_reply(), 0.5)  # nothing could linger: no wait
    assert not over.done()
    calls.release.set()
    await asyncio.wait_for(over, GUARD)


async def test_a_turn_without_a_reply_marks_read_and_shows_no_indicator() -> None:
    calls = Calls()
    indicator = TypingIndicator(calls, 8, True, LONG)
    timer = indicator.start()
    await asyncio.wait_for(indicator.turn_ended(), GUARD)
    assert calls.made == [(0, True)] and timer.cancelled()


async def test_without_mark_read_a_silent_turn_makes_no_call() -> None:
    calls = Calls()
    indicator = TypingIndicator(calls, 8, False, LONG)
    indicator.start()
    await indicator.turn_ended()
    assert calls.made == []


async def test_with_typing_and_read_off_nothing_is_ever_sent() -> None:
    calls = Calls()
    indicator = TypingIndicator(calls, 0, False, 0)
    await asyncio.wait_for(indicator.start(), GUARD)
    await indicator.before_reply()
    assert calls.made == []


async def test_only_the_first_reply_waits(monkeypatch) -> None:
    monkeypatch.setattr(indicator_module, "REPLY_WAITS_AT_MOST", 0.01)
    calls = Calls()
    calls.release.clear()  # LoopMessage holds the typing call
    indicator = TypingIndicator(calls, 8, True, 0)
    indicator.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(indicator.before_reply(), GUARD)  # gave up waiting after 0.01 s
    monkeypatch.setattr(indicator_module, "REPLY_WAITS_AT_MOST", LONG)
    # The call is still on its way; a second reply must not wait for it again.
    await asyncio.wait_for(indicator.before_reply(), 1.0)
    calls.release.set()


async def test_a_quick_reply_cancels_the_timer_and_starts_only_the_read_receipt() -> None:
    calls = Calls()
    spawned: List[object] = []

    def spawn(coroutine):  # type: ignore[no-untyped-def]
        spawned.append(coroutine)
        return asyncio.ensure_future(coroutine)

    indicator = TypingIndicator(calls, 8, True, 0.05)
    over = indicator.start(spawn)
    await indicator.before_reply()  # returns without waiting on anything
    await asyncio.wait_for(over, GUARD)
    await asyncio.sleep(0.1)  # past the delay: the cancelled timer never fires
    assert len(spawned) == 1 and calls.made == [(0, True)]


async def test_a_delay_that_runs_out_shows_the_indicator() -> None:
    calls = Calls()
    indicator = TypingIndicator(calls, 8, True, 0.01)
    over = indicator.start()
    await asyncio.wait_for(over, GUARD)
    assert calls.made == [(8, True)] and indicator.shown and not indicator.pending


# -- TypingIndicators: the channel's registry, by message id, with a ceiling -------------------


class Registry:
    """TypingIndicators with a recording show-typing call and a task set as the channel has."""

    def __init__(self, *, delay: float, limit: int = 100) -> None:
        self.calls: List[Tuple[str, int, bool]] = []
        self.release = asyncio.Event()
        self.tasks: List[asyncio.Future[None]] = []

        async def show(message_id: str, seconds: int, read: bool) -> None:
            self.calls.append((message_id, seconds, read))
            await self.release.wait()

        def spawn(coroutine) -> asyncio.Future[None]:  # type: ignore[no-untyped-def]
            task: asyncio.Future[None] = asyncio.ensure_future(coroutine)
            self.tasks.append(task)
            return task

        self.indicators = TypingIndicators(
            show, spawn, seconds=8, read=True, delay=delay, limit=limit
        )

    async def finish(self) -> None:
        self.release.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.wait(self.tasks, timeout=GUARD)


async def test_at_most_limit_indicators_are_alive_against_a_hung_api() -> None:
    registry = Registry(delay=0, limit=3)
    for n in range(5):
        registry.indicators.start(f"M{n}")
    for _ in range(3):
        await asyncio.sleep(0)
    assert [call[0] for call in registry.calls] == ["M0", "M1", "M2"]
    assert registry.indicators.get("M4") is None  # over the ceiling: no indicator
    await registry.finish()


async def test_an_indicator_is_forgotten_once_shown_and_a_silent_turn_marks_read() -> None:
    registry = Registry(delay=LONG)
    registry.release.set()
    registry.indicators.start("M1")
    registry.indicators.start("M2")
    await asyncio.sleep(0)
    first = registry.indicators.get("M1")
    assert first is not None
    await first.before_reply()  # M1 answered quickly: read only, alongside the reply
    registry.indicators.turn_ended("M2")  # M2's turn said nothing: read only
    await asyncio.wait(registry.tasks, timeout=GUARD)
    assert registry.calls == [("M1", 0, True), ("M2", 0, True)]
    assert registry.indicators.get("M1") is None and registry.indicators.get("M2") is None
    registry.indicators.turn_ended(None)  # a turn without a message id: nothing to do
    assert len(registry.tasks) == 2  # the read receipts: the delays were timers, not tasks


async def test_a_turn_ending_while_its_indicator_shows_starts_no_task() -> None:
    registry = Registry(delay=0)  # the call hangs until finish()
    registry.indicators.start("M1")
    await asyncio.sleep(0)
    registry.indicators.turn_ended("M1")
    assert len(registry.tasks) == 1 and registry.calls == [("M1", 8, True)]
    await registry.finish()


async def test_stopping_the_delays_at_shutdown_leaves_no_call_to_come() -> None:
    registry = Registry(delay=0.05)
    registry.indicators.start("M1")
    registry.indicators.stop_delays()
    await asyncio.sleep(0.1)  # past the delay
    assert registry.calls == [] and registry.tasks == []
    assert registry.indicators.get("M1") is None  # forgotten: the ceiling's place is free


# -- a turn slower than the indicator: shown again until the reply -------------------------


@pytest.fixture
def quick_renewals(monkeypatch: pytest.MonkeyPatch) -> None:
    """`typing_seconds: 1` renewed every 20 ms instead of every second."""
    monkeypatch.setattr(indicator_module, "RENEW_EARLY", 0.98)
    monkeypatch.setattr(indicator_module, "RENEW_EVERY_AT_LEAST", 0.02)


async def _calls_reach(calls: Calls, count: int) -> None:
    while len(calls.made) < count:
        await asyncio.sleep(0.005)


async def test_a_slow_turn_is_shown_typing_again_until_the_reply(quick_renewals: None) -> None:
    calls = Calls()
    indicator = TypingIndicator(calls, 1, True, 0, renew_for=LONG)
    over = indicator.start()
    await asyncio.wait_for(_calls_reach(calls, 3), GUARD)
    assert over.done()  # the first call is over; the renewals go on
    finished = indicator.finished
    assert finished is not None and not finished.done()
    await asyncio.wait_for(indicator.before_reply(), GUARD)
    made = len(calls.made)
    await asyncio.sleep(0.1)  # five renewal periods
    assert len(calls.made) == made  # none after the reply
    assert set(calls.made) == {(1, True)}  # the same call again
    assert finished.done() and not finished.cancelled()  # it ended, nothing cut it short


async def test_a_read_receipt_alone_is_sent_once_and_never_renewed(quick_renewals: None) -> None:
    calls = Calls()
    indicator = TypingIndicator(calls, 0, True, 0, renew_for=LONG)  # no typing_seconds
    indicator.start()
    assert indicator.finished is not None
    await asyncio.wait_for(indicator.finished, GUARD)
    await asyncio.sleep(0.1)  # five renewal periods
    assert calls.made == [(0, True)]


async def test_renewals_stop_at_their_bound_and_the_indicator_is_then_finished(
    quick_renewals: None,
) -> None:
    calls = Calls()
    indicator = TypingIndicator(calls, 1, True, 0, renew_for=0.1)
    indicator.start()
    assert indicator.finished is not None
    await asyncio.wait_for(indicator.finished, GUARD)
    made = len(calls.made)
    assert 2 <= made <= 6  # one call, then one per 20 ms for 100 ms
    await asyncio.sleep(0.1)
    assert len(calls.made) == made


async def test_a_reply_waits_for_a_renewal_already_on_its_way(quick_renewals: None) -> None:
    calls = Calls()
    indicator = TypingIndicator(calls, 1, True, 0, renew_for=LONG)
    indicator.start()
    await asyncio.wait_for(_calls_reach(calls, 2), GUARD)
    calls.release.clear()  # LoopMessage holds the next renewal
    made = len(calls.made)
    await asyncio.wait_for(_calls_reach(calls, made + 1), GUARD)
    waiting = asyncio.ensure_future(indicator.before_reply())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the indicator lands before the reply, never after it
    calls.release.set()
    await asyncio.wait_for(waiting, GUARD)


async def test_a_turn_that_ends_without_a_reply_stops_the_renewals_and_frees_its_place(
    quick_renewals: None,
) -> None:
    made: List[Tuple[str, int, bool]] = []

    async def show(message_id: str, seconds: int, read: bool) -> None:
        made.append((message_id, seconds, read))

    indicators = TypingIndicators(show, asyncio.ensure_future, seconds=1, read=True, delay=0,
                                  limit=1, renew_for=LONG)  # fmt: skip
    indicators.start("M-1")
    while len(made) < 2:
        await asyncio.sleep(0.005)
    indicators.start("M-2")  # the first call of M-1 is over: its place is free
    assert indicators.get("M-1") is not None and indicators.get("M-2") is not None
    indicators.turn_ended("M-1")
    await asyncio.sleep(0.05)
    assert indicators.get("M-1") is None
    count = len([call for call in made if call[0] == "M-1"])
    await asyncio.sleep(0.1)
    assert len([call for call in made if call[0] == "M-1"]) == count  # no renewal after it
    indicators.turn_ended("M-2")


async def test_an_indicator_ending_never_forgets_a_later_one_of_the_same_message() -> None:
    made: List[Tuple[str, int, bool]] = []

    async def show(message_id: str, seconds: int, read: bool) -> None:
        made.append((message_id, seconds, read))

    indicators = TypingIndicators(show, asyncio.ensure_future, seconds=8, read=True,
                                  delay=LONG, limit=10, renew_for=0)  # fmt: skip
    indicators.start("M-1")
    first = indicators.get("M-1")
    indicators.start("M-1")  # the same message again (a webhook LoopMessage sent twice)
    second = indicators.get("M-1")
    assert first is not None and second is not None and first is not second
    first.stop_delay()  # the first one ends ...
    await asyncio.sleep(0)
    assert indicators.get("M-1") is second  # ... and the second is still found
    second.stop_delay()
    await asyncio.sleep(0)
    assert indicators.get("M-1") is None and made == []


async def test_held_calls_keep_the_indicator_until_the_last_one_lands(
    quick_renewals: None,
) -> None:
    """LoopMessage slow to answer: renewals go out while earlier calls hang. An earlier call
    landing does not finish the indicator (a reply would stop waiting for it) while a later
    one is still on its way."""
    held: List[asyncio.Event] = []

    async def show(seconds: int, read: bool) -> None:
        held.append(asyncio.Event())
        await held[-1].wait()

    indicator = TypingIndicator(show, 1, True, 0, renew_for=0.1)
    indicator.start()
    await asyncio.sleep(0.2)  # the renewals' bound is over, every call still held
    assert len(held) >= 2 and indicator.finished is not None
    for earlier in held[:-1]:
        earlier.set()
    await asyncio.sleep(0.02)
    assert not indicator.finished.done()  # the last call is still on its way
    held[-1].set()
    await asyncio.wait_for(indicator.finished, GUARD)


async def test_on_the_defaults_it_is_shown_again_after_7_s_for_at_most_2_minutes() -> None:
    """The README's figures: `typing_seconds: 8` is renewed a second before it runs out,
    and renewals stop 120 s after it was first shown (the timer's own due time is read)."""
    made: List[Tuple[str, int, bool]] = []

    async def show(message_id: str, seconds: int, read: bool) -> None:
        made.append((message_id, seconds, read))

    indicators = TypingIndicators(show, asyncio.ensure_future, seconds=8, read=True, delay=0,
                                  limit=10)  # fmt: skip
    loop = asyncio.get_running_loop()
    indicators.start("M-1")
    shown_at = loop.time()
    indicator = indicators.get("M-1")
    assert indicator is not None and indicator._renew_timer is not None
    assert abs(indicator._renew_timer.when() - shown_at - 7.0) < 0.05
    assert abs(indicator._renew_until - shown_at - 120.0) < 0.05
    indicators.turn_ended("M-1")
    assert indicator._renew_timer is None
