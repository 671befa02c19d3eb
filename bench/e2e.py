"""Sections 1-3: throughput against REST, ack latency under load, and message bursts.

Everything runs against one `rasa run` serving both channels. For each concurrency level
the two channels run back to back on fresh senders with the same number of turns, so a
pair compares equal work on the same process a few seconds apart. The machine's speed
drifts by more than the gap being measured (±15-25 % between identical runs on a shared
VM), so each level runs `ROUNDS` pairs, alternating which channel goes first, and the
ratio is the median of the pairs' ratios, reported with their range.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Sequence, Tuple

from .load import TURN_TIMEOUT, Driver, RunResult, new_contact

__all__ = [
    "ACTION_LEVELS",
    "ACTION_SECONDS",
    "API_LATENCY",
    "BURST_TEXTS",
    "LEVELS",
    "PACED",
    "PAUSE",
    "ROUNDS",
    "BurstResult",
    "bursts",
    "paired_ratios",
    "throughput",
    "with_latency",
]

# (concurrent conversations, turns per conversation): about 40-1200 turns per run.
LEVELS: Tuple[Tuple[int, int], ...] = ((1, 50), (50, 12), (200, 6))
QUICK_LEVELS: Tuple[Tuple[int, int], ...] = ((1, 10), (50, 2), (200, 1))
# LoopMessage is not on loopback: an assumed round trip for its API, and the levels run with it.
API_LATENCY = 0.1
LATENCY_LEVELS: Tuple[Tuple[int, int], ...] = ((50, 8), (200, 4))
# Users pause between messages: 200 senders each waiting this long after a reply load the
# server at about half of what it can do, instead of saturating it as the closed loop does.
PAUSE = 4.0
PACED = (200, 5)  # conversations, turns each
TEXT = "hi"  # example_bot's greeting: two paragraphs, so two bubbles on both channels
BURST_TEXTS = ("hi", "help", "mood", "picture", "bye")
RUN_BUDGET = 60.0  # seconds at most per run
# Pairs of runs per level (iMessage then REST, REST then iMessage, …). Three give a median
# that one outlying pair cannot move; each round adds 20-60 s per server (the two rounds
# beyond the first took `make bench` from about 8.5 to 19 minutes).
ROUNDS = 3
# Section 1b: a turn is one request to LoopMessage (one bubble; a quick reply makes no
# show-typing call, and no read receipt is sent); section 1f adds the send worker, and
# section 8 counts that server too.
LEAN_OPTIONS: Dict[str, object] = {
    "typing_delay": 0.5,
    "split_paragraphs": False,
    "mark_read": False,
}
OFFLOADED_OPTIONS: Dict[str, object] = {**LEAN_OPTIONS, "send_worker": True}
# Section 1d: the bot answers with a custom action that waits this long on Rasa's action
# server, as one calling an API or a database does. Six turns per conversation: with the
# action's answers checked quickly (`cache_action_schema`), three turns and the 1 s spread
# of starts left Rasa's core short of busy at 200 conversations, which flattered the ratio
# (one-off, three pairs each: 0.93-0.98 at 3 turns, 0.90-0.94 at 6, 0.89-0.92 at 12).
ACTION_SECONDS = 0.3
ACTION_LEVELS: Tuple[Tuple[int, int], ...] = ((50, 6), (200, 6))
QUICK_ACTION_LEVELS: Tuple[Tuple[int, int], ...] = ((50, 1),)

Progress = Callable[[str], None]
CHANNELS = ("imessage", "rest")


async def throughput(
    driver: Driver,
    levels: Sequence[Tuple[int, int]],
    progress: Progress,
    text: str = TEXT,
    rounds: int = ROUNDS,
) -> Dict[int, Dict[str, RunResult]]:
    """`rounds` pairs of closed-loop runs per level, alternating which channel goes first.

    Each channel's runs are pooled into one `RunResult`; its `rates` keep every run's
    turns/s in round order, so `paired_ratios` can compare the runs made side by side.
    """
    results: Dict[int, Dict[str, RunResult]] = {}
    for conversations, turns in levels:
        pooled = {channel: RunResult(channel, conversations) for channel in CHANNELS}
        for round_index in range(rounds):
            order = CHANNELS if round_index % 2 == 0 else CHANNELS[::-1]
            for channel in order:
                run = await driver.closed_loop(channel, conversations, turns, text, RUN_BUDGET)
                progress(
                    f"  {channel:8} {conversations:3} conversations: {run.turns} turns in "
                    f"{run.seconds:.1f} s = {run.turns_per_second:.1f}/s ({run.errors} errors)"
                )
                pooled[channel].add(run)
        results[conversations] = pooled
    return results


def paired_ratios(runs: Dict[str, RunResult]) -> List[float]:
    """iMessage turns/s over REST's, one ratio per round (the two runs made side by side)."""
    pairs = zip(runs["imessage"].rates, runs["rest"].rates)
    return [imessage / rest for imessage, rest in pairs if rest > 0]


async def with_latency(
    driver: Driver, levels: Sequence[Tuple[int, int]], progress: Progress
) -> Dict[int, RunResult]:
    """iMessage runs with the stand-in answering after API_LATENCY (REST sends nothing)."""
    results: Dict[int, RunResult] = {}
    driver.stand_in.latency = API_LATENCY
    try:
        for conversations, turns in levels:
            run = await driver.closed_loop("imessage", conversations, turns, TEXT, RUN_BUDGET)
            progress(
                f"  imessage {conversations:3} conversations, API {API_LATENCY * 1000:.0f} ms: "
                f"{run.turns_per_second:.1f}/s ({run.errors} errors)"
            )
            results[conversations] = run
    finally:
        driver.stand_in.latency = 0.0
    return results


@dataclass
class BurstResult:
    """Five bubbles at once against the same five one after another, per channel."""

    channel: str
    sequential: List[float] = field(default_factory=list)
    burst: List[float] = field(default_factory=list)
    in_order: int = 0  # repetitions whose replies came in bubble order (iMessage only)

    @property
    def ratio(self) -> float:
        return statistics.median(self.burst) / statistics.median(self.sequential)


async def _sequential(driver: Driver, channel: str, contact: str) -> float:
    run = RunResult(channel, 1)
    turn = driver.imessage_turn if channel == "imessage" else driver.rest_turn
    started = time.perf_counter()
    for text in BURST_TEXTS:
        await turn(contact, text, run)
    return time.perf_counter() - started


async def _burst(driver: Driver, channel: str, contact: str) -> float:
    """REST answers only after the turn, so its five POSTs go out together; webhooks go out
    back to back, as LoopMessage delivers a user's bubbles, which keeps their order known."""
    started = time.perf_counter()
    if channel == "rest":
        await asyncio.gather(*(driver.post_rest(contact, text) for text in BURST_TEXTS))
        return time.perf_counter() - started
    expected = driver.stand_in.received(contact) + sum(
        driver.per_turn["imessage"][text] for text in BURST_TEXTS
    )
    for text in BURST_TEXTS:  # back to back: each 200 comes in milliseconds
        await driver.post_webhook(contact, text)
    return await driver.stand_in.wait_for(contact, expected, TURN_TIMEOUT) - started


async def bursts(driver: Driver, repetitions: int, progress: Progress) -> List[BurstResult]:
    """Each repetition: two fresh senders warmed up by one turn; one sends the five texts
    one after another (waiting for each answer), the other all five at once."""
    results = []
    for channel in ("imessage", "rest"):
        result = BurstResult(channel)
        turn = driver.imessage_turn if channel == "imessage" else driver.rest_turn
        for _ in range(repetitions):
            one, other = new_contact(), new_contact()
            for contact in (one, other):
                await turn(contact, "hi", RunResult(channel, 1))
            result.sequential.append(await _sequential(driver, channel, one))
            result.burst.append(await _burst(driver, channel, other))
            if channel == "imessage":
                texts = driver.stand_in.texts
                result.in_order += texts[one] == texts[other]
        progress(
            f"  {channel:8} burst {statistics.median(result.burst) * 1000:.0f} ms, sequential "
            f"{statistics.median(result.sequential) * 1000:.0f} ms (x {result.ratio:.2f})"
        )
        results.append(result)
    return results
