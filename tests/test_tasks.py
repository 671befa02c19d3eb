"""TurnRunner: order per conversation, a global bound, failures contained, drain on shutdown."""

from __future__ import annotations

import asyncio
import logging
from typing import Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rasa_imessage import lending
from rasa_imessage.tasks import Draining, QueueFull, TurnRunner

# A guard against a hang when a test fails, never a wait the test relies on.
GUARD = 5


class Gauge:
    """Counts jobs running at once and remembers the most it saw."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    def job(self, log: List[str], name: str, yields: int = 1):
        async def run() -> None:
            self.now += 1
            self.most = max(self.most, self.now)
            log.append(name)
            for _ in range(yields):
                await asyncio.sleep(0)
            self.now -= 1

        return run


def blocked(gate: asyncio.Event, log: List[str], name: str):
    async def run() -> None:
        log.append(f"start {name}")
        await gate.wait()
        log.append(f"end {name}")

    return run


def recorder(log: List[str], name: str):
    async def hook() -> None:
        log.append(name)

    return hook


async def settle(runner: TurnRunner) -> None:
    await asyncio.wait_for(runner.join(), GUARD)


@given(
    plan=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 3)),
        min_size=1,
        max_size=40,
    ),
    limit=st.integers(1, 3),
)
@settings(deadline=None, max_examples=60)
def test_arrival_order_is_kept_per_conversation_and_the_bound_holds(plan, limit):
    async def main() -> Tuple[List[str], int]:
        runner = TurnRunner(max_concurrent=limit)
        gauge = Gauge()
        log: List[str] = []
        for index, (key, yields) in enumerate(plan):
            runner.submit(key, gauge.job(log, f"{key}{index}", yields))
        await settle(runner)
        return log, gauge.most

    log, most = asyncio.run(main())
    for key in "abcd":
        expected = [f"{k}{i}" for i, (k, _) in enumerate(plan) if k == key]
        assert [name for name in log if name[0] == key] == expected
    assert sorted(log) == sorted(f"{k}{i}" for i, (k, _) in enumerate(plan))
    assert most <= limit


async def test_different_conversations_run_in_parallel():
    runner = TurnRunner(max_concurrent=2)
    b_started = asyncio.Event()
    log: List[str] = []

    async def a() -> None:
        await b_started.wait()  # finishes only if b runs while a is still running
        log.append("a")

    async def b() -> None:
        b_started.set()
        log.append("b")

    runner.submit("a", a)
    runner.submit("b", b)
    await settle(runner)
    assert log == ["b", "a"]


async def test_one_conversation_never_overlaps_itself():
    runner = TurnRunner(max_concurrent=8)
    gauge = Gauge()
    log: List[str] = []
    for index in range(20):
        runner.submit("same", gauge.job(log, str(index), yields=3))
    await settle(runner)
    assert gauge.most == 1
    assert log == [str(index) for index in range(20)]


async def test_at_most_max_concurrent_jobs_run_at_once():
    runner = TurnRunner(max_concurrent=3)
    gauge = Gauge()
    log: List[str] = []
    seen: List[int] = []

    def job(key: str):
        inner = gauge.job(log, key, yields=5)

        async def run() -> None:
            seen.append(runner.running)
            await inner()

        return run

    for index in range(30):
        runner.submit(f"conversation-{index}", job(str(index)))
    await settle(runner)
    assert gauge.most == 3  # reached, never exceeded
    assert max(seen) == 3
    assert len(log) == 30
    assert runner.running == 0


async def test_a_busy_conversation_does_not_starve_the_others():
    runner = TurnRunner(max_concurrent=1)
    gauge = Gauge()
    log: List[str] = []
    for index in range(3):
        runner.submit("busy", gauge.job(log, f"busy{index}"))
    runner.submit("quiet", gauge.job(log, "quiet"))
    await settle(runner)
    assert log == ["busy0", "quiet", "busy1", "busy2"]


async def test_new_turns_of_different_conversations_start_in_arrival_order():
    """At saturation every conversation waits about as long (BENCHMARKS.md: turn latency
    p50 and p99 close together): a freed place goes to the turn that has waited longest."""
    runner = TurnRunner(max_concurrent=2)
    gauge = Gauge()
    log: List[str] = []
    names = [f"conversation-{index}" for index in range(12)]
    for name in names:
        runner.submit(name, gauge.job(log, name, yields=3))
    await settle(runner)
    assert log == names


async def test_a_failing_job_is_logged_and_its_conversation_goes_on(caplog):
    runner = TurnRunner()
    log: List[str] = []

    async def fail() -> None:
        log.append("fail")
        raise RuntimeError("the action server is down")

    runner.submit("c", fail, label="message_inbound w-1")
    runner.submit("c", recorder(log, "after"))
    with caplog.at_level(logging.ERROR, logger="rasa_imessage.tasks"):
        await settle(runner)
    assert log == ["fail", "after"]
    [record] = caplog.records
    assert record.getMessage() == "iMessage turn failed: message_inbound w-1"
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    assert runner.pending == 0


async def test_the_label_defaults_to_the_conversation(caplog):
    runner = TurnRunner()

    async def fail() -> None:
        raise ValueError("x")

    runner.submit("+15551234567", fail)
    with caplog.at_level(logging.ERROR, logger="rasa_imessage.tasks"):
        await settle(runner)
    assert [r.getMessage() for r in caplog.records] == ["iMessage turn failed: +15551234567"]


async def test_queue_full_beyond_max_queued_counts_running_and_waiting():
    runner = TurnRunner(max_concurrent=1, max_queued=3)
    gate = asyncio.Event()
    log: List[str] = []
    for key in ("a", "a", "b"):
        runner.submit(key, blocked(gate, log, key))
    assert runner.pending == 3
    with pytest.raises(QueueFull, match="3 turns are already waiting"):
        runner.submit("c", blocked(gate, log, "c"))
    assert runner.pending == 3
    assert runner.conversations == 2
    gate.set()
    await settle(runner)
    runner.submit("c", recorder(log, "c accepted"))
    await settle(runner)
    assert log[-1] == "c accepted"


async def test_with_nothing_ever_submitted_join_returns_and_drain_returns_zero():
    await asyncio.wait_for(TurnRunner().join(), GUARD)
    assert await TurnRunner().drain(timeout=0) == 0


async def test_drain_waits_for_jobs_that_finish_in_time():
    runner = TurnRunner()
    gate = asyncio.Event()
    log: List[str] = []
    runner.submit("a", blocked(gate, log, "a"), on_cancel=recorder(log, "cancel a"))
    runner.submit("a", recorder(log, "a2"))
    await asyncio.sleep(0)
    drained = asyncio.ensure_future(runner.drain(timeout=GUARD))
    await asyncio.sleep(0)
    assert not drained.done()
    gate.set()
    assert await asyncio.wait_for(drained, GUARD) == 0
    assert log == ["start a", "end a", "a2"]


async def test_drain_cancels_what_is_left_and_runs_every_on_cancel(caplog):
    runner = TurnRunner(max_concurrent=2)
    finish_a, never = asyncio.Event(), asyncio.Event()
    log: List[str] = []
    runner.submit("a", blocked(finish_a, log, "a"), on_cancel=recorder(log, "cancel a"))
    runner.submit("b", blocked(never, log, "b1"), on_cancel=recorder(log, "cancel b1"))
    runner.submit("b", blocked(never, log, "b2"), on_cancel=recorder(log, "cancel b2"))
    runner.submit("c", blocked(never, log, "c1"), on_cancel=recorder(log, "cancel c1"))
    runner.submit("d", blocked(never, log, "d1"))  # no hook: still counted
    await asyncio.sleep(0)
    assert runner.running == 2  # a and b1; c1 and d1 wait for a slot

    async def finish_a_while_draining() -> None:
        await asyncio.sleep(0)
        finish_a.set()

    helper = asyncio.ensure_future(finish_a_while_draining())
    with caplog.at_level(logging.WARNING, logger="rasa_imessage.tasks"):
        cancelled = await runner.drain(timeout=0.05)
    await helper
    assert cancelled == 4
    assert "end a" in log and "cancel a" not in log
    assert {"cancel b1", "cancel b2", "cancel c1"} <= set(log)
    assert not {"start b2", "end b1", "end c1", "end d1"} & set(log)
    assert (runner.pending, runner.running, runner.conversations) == (0, 0, 0)
    assert "shutdown: 4 iMessage turn(s) did not finish in" in caplog.text


async def test_a_failing_on_cancel_is_logged_and_the_others_still_run(caplog):
    runner = TurnRunner()
    never = asyncio.Event()
    log: List[str] = []

    async def broken() -> None:
        raise RuntimeError("redis is gone")

    runner.submit("a", blocked(never, log, "a1"), on_cancel=broken, label="first")
    runner.submit("a", blocked(never, log, "a2"), on_cancel=recorder(log, "cancel a2"))
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="rasa_imessage.tasks"):
        assert await runner.drain(timeout=0) == 2
    assert log[-1] == "cancel a2"
    assert "cleanup of a cancelled turn failed: first" in caplog.text
    assert runner.pending == 0


async def test_work_submitted_while_turns_finish_is_run():
    # A send that fails in a finishing turn queues the bot's delivery-failed turn.
    runner = TurnRunner()
    gate = asyncio.Event()
    log: List[str] = []
    runner.submit("a", blocked(gate, log, "a"))
    await asyncio.sleep(0)
    drained = asyncio.ensure_future(runner.drain(timeout=GUARD))
    await asyncio.sleep(0)
    runner.submit("a", recorder(log, "a follow-up"))
    runner.submit("b", recorder(log, "b"))
    gate.set()
    assert await asyncio.wait_for(drained, GUARD) == 0
    assert sorted(log) == ["a follow-up", "b", "end a", "start a"]
    assert log.index("a follow-up") > log.index("end a")


async def test_submit_while_cancelling_is_refused_and_nothing_leaks():
    runner = TurnRunner()
    never = asyncio.Event()
    log: List[str] = []
    refused: List[type] = []

    async def resubmit() -> None:
        for key in ("a", "z"):  # its own queue, being cancelled, and a new conversation
            try:
                runner.submit(key, recorder(log, f"late {key}"))
            except QueueFull as exc:
                refused.append(type(exc))

    runner.submit("a", blocked(never, log, "a"), on_cancel=resubmit)
    await asyncio.sleep(0)
    assert await runner.drain(timeout=0) == 1
    assert refused == [Draining, Draining]
    assert issubclass(Draining, QueueFull)  # the webhook answers 503: LoopMessage retries
    assert (runner.pending, runner.conversations) == (0, 0)
    runner.submit("z", recorder(log, "after drain"))
    await settle(runner)
    assert log == ["start a", "after drain"]


async def test_no_state_is_left_after_ten_thousand_conversations():
    runner = TurnRunner(max_concurrent=8)
    done: Dict[str, int] = {}

    def job(key: str):
        async def run() -> None:
            done[key] = done.get(key, 0) + 1

        return run

    for index in range(10_000):
        runner.submit(f"+1555{index:07d}", job(f"+1555{index:07d}"))
    assert runner.conversations == 10_000
    await settle(runner)
    await asyncio.sleep(0)  # the done-callbacks that forget finished workers
    assert len(done) == 10_000
    assert (runner.pending, runner.running, runner.conversations) == (0, 0, 0)
    assert runner._queues == {}
    assert runner._workers == set()


@pytest.mark.parametrize(("concurrent", "queued"), [(0, 1), (1, 0), (-1, 5)])
def test_bounds_below_one_are_refused(concurrent, queued):
    with pytest.raises(ValueError, match="must be at least 1"):
        TurnRunner(max_concurrent=concurrent, max_queued=queued)


async def test_a_job_that_lost_its_cancellation_holds_back_what_waits_behind_it():
    """A redis-py call can return to a cancelled turn; the turns behind it must not start."""
    runner = TurnRunner()
    log: List[str] = []

    async def forgetful() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            log.append("cancellation lost")

    runner.submit("a", forgetful)
    runner.submit("a", blocked(asyncio.Event(), log, "a2"), on_cancel=recorder(log, "cancel a2"))
    await asyncio.sleep(0)
    assert await asyncio.wait_for(runner.drain(timeout=0), GUARD) == 2
    assert log == ["cancellation lost", "cancel a2"]
    assert (runner.pending, runner.running, runner.conversations) == (0, 0, 0)


# -- network_wait: a turn waiting on LoopMessage lends its place ---------------------------------


def network_job(log: List[str], name: str, answer: asyncio.Event):
    async def run() -> None:
        log.append(f"start {name}")
        async with lending.network_wait():
            await answer.wait()
        log.append(f"end {name}")

    return run


async def spin(times: int = 10) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


async def test_a_turn_waiting_on_the_network_lends_its_place_and_resumes_first():
    runner = TurnRunner(max_concurrent=1)
    runner._gate.lending = True  # LoopMessage answered in time before
    answer, never = asyncio.Event(), asyncio.Event()
    log: List[str] = []
    runner.submit("a", network_job(log, "a", answer))
    runner.submit("b", blocked(answer, log, "b"))  # computes while a waits
    runner.submit("c", blocked(never, log, "c"))  # waits for a place
    for _ in range(5):
        await asyncio.sleep(0)
    assert log == ["start a", "start b"] and runner.running == 2
    answer.set()  # a's answer and b's work end together: a resumes before c starts
    for _ in range(10):
        await asyncio.sleep(0)
    assert log.index("end a") < log.index("start c")
    never.set()
    await settle(runner)


async def test_no_place_is_lent_once_the_network_was_slow(monkeypatch):
    monkeypatch.setattr(lending, "HEALTHY_WAIT", 0.0)  # every wait now counts as too slow
    runner = TurnRunner(max_concurrent=1)
    runner._gate.lending = True
    first, second = asyncio.Event(), asyncio.Event()
    log: List[str] = []
    runner.submit("a", network_job(log, "a", first))
    runner.submit("b", network_job(log, "b", second))
    for _ in range(5):
        await asyncio.sleep(0)
    assert log == ["start a", "start b"]  # the first wait lent a's place ...
    first.set()
    await asyncio.sleep(0.01)
    assert not runner._gate.lending  # ... but took too long: lending stops
    runner.submit("c", network_job(log, "c", asyncio.Event()))
    for _ in range(5):
        await asyncio.sleep(0)
    second.set()  # b's answer is in, but c waits on the network holding the only place
    for _ in range(10):
        await asyncio.sleep(0)
    assert "start c" in log and "end b" not in log
    await runner.drain(timeout=0)


@pytest.mark.parametrize("max_lent", [1, 2])
async def test_at_most_max_lent_places_are_lent_and_all_come_back(monkeypatch, max_lent):
    monkeypatch.setattr(lending, "MAX_LENT", max_lent)
    runner = TurnRunner(max_concurrent=1)
    runner._gate.lending = True
    answer = asyncio.Event()
    log: List[str] = []
    for name in "abcd":
        runner.submit(name, network_job(log, name, answer))
    await spin()
    started = 1 + max_lent  # the one place, and each lent once
    assert log == [f"start {name}" for name in "abcd"[:started]]
    assert runner.running == started
    answer.set()
    await settle(runner)
    assert runner._gate.lendable == max_lent


async def test_nothing_is_lent_before_loopmessage_has_answered_in_time():
    runner = TurnRunner(max_concurrent=1)  # a new gate: no answer seen yet
    answer = asyncio.Event()
    log: List[str] = []
    runner.submit("a", network_job(log, "a", answer))
    runner.submit("b", network_job(log, "b", answer))
    await spin()
    assert log == ["start a"]  # a keeps its place while it waits
    answer.set()
    await settle(runner)
    assert runner._gate.lending  # that answer came in time: the next wait lends


async def test_a_failed_wait_stops_the_lending():
    runner = TurnRunner(max_concurrent=1)
    runner._gate.lending = True

    async def refused() -> None:
        with pytest.raises(ConnectionError):
            async with lending.network_wait():
                raise ConnectionError("LoopMessage refused the connection")

    runner.submit("a", refused)
    await settle(runner)
    assert not runner._gate.lending


async def test_a_task_a_job_left_behind_takes_no_place_once_the_job_has_ended():
    """A side task (a typing indicator) runs in its turn's context and may lend the turn's
    place; coming back after the turn has ended, it must not take a place and keep it."""
    runner = TurnRunner(max_concurrent=1)
    runner._gate.lending = True
    answer = asyncio.Event()
    log: List[str] = []
    left: List[asyncio.Task[None]] = []

    async def behind() -> None:
        async with lending.network_wait():
            await answer.wait()
        log.append("behind done")

    async def job() -> None:
        left.append(asyncio.ensure_future(behind()))  # inherits the job's place
        await spin(3)  # the side task lends that place while it waits
        log.append("job done")

    runner.submit("a", job)
    await settle(runner)
    answer.set()
    await asyncio.wait_for(left[0], GUARD)
    runner.submit("b", blocked(answer, log, "b"))
    await settle(runner)  # b got the place: the side task did not keep it
    assert log == ["job done", "behind done", "start b", "end b"]


async def test_a_cancelled_gate_waiter_passes_its_place_on_only_if_it_was_handed_it():
    gate = lending.Gate(1)
    await gate.acquire(resuming=False)
    first, second, third = (asyncio.ensure_future(gate.acquire(resuming=False)) for _ in range(3))
    await spin(1)  # all queued
    first.cancel()  # never handed a place: it has none to give back
    with pytest.raises(asyncio.CancelledError):
        await first
    await spin(1)
    assert not second.done()  # the one place is still taken
    gate.release()  # `second` is handed the place ...
    second.cancel()  # ... and cancelled before it could run
    with pytest.raises(asyncio.CancelledError):
        await second
    await asyncio.wait_for(third, GUARD)  # passed on, not lost
