"""Turn steps one per loop iteration, other work in between; coroutine semantics unchanged."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import sys
import time
from typing import Any, Callable, Coroutine, List

import pytest
import uvloop

from rasa_imessage import stepping
from rasa_imessage.stepping import Baton, stepped
from rasa_imessage.tasks import TurnRunner

GUARD = 5  # seconds: a guard against a hang when a test fails, never a wait relied on

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


def on_each_loop(test: Callable[[], object]) -> Callable[[str], None]:
    """Run an async test body on both loops a Rasa server may use (uvloop under Sanic)."""

    @pytest.mark.parametrize("loop_name", sorted(LOOPS))
    def run(loop_name: str) -> None:
        loop = LOOPS[loop_name]()
        try:
            loop.run_until_complete(asyncio.wait_for(test(), GUARD))  # type: ignore[arg-type]
        finally:
            loop.close()

    run.__name__ = test.__name__
    return run


@pytest.fixture(autouse=True)
def one_step_per_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every step over budget: each hands the baton on through the loop (the tests below
    that are about the budget set their own)."""
    monkeypatch.setattr(stepping, "STEP_BUDGET", 0.0)


async def _ticker(log: List[str], ticks: int) -> None:
    """Work ready on every loop iteration, as webhooks are under load."""
    for _ in range(ticks):
        log.append("-")
        await asyncio.sleep(0)


def _turn(
    log: List[str], name: str, steps: int, computes: float = 0.0
) -> Callable[[], Coroutine[Any, Any, str]]:
    """`steps` steps, each busy for `computes` seconds, as Rasa's NLU or policies are."""

    async def run() -> str:
        for _ in range(steps):
            log.append(name)
            if computes:
                time.sleep(computes)  # blocks the loop, as a CPU-bound step does
            await asyncio.sleep(0)
        return name

    return run


def _back_to_back(trace: str) -> List[str]:
    return [a + b for a, b in zip(trace, trace[1:]) if "-" not in (a, b)]


@on_each_loop
async def test_ready_turns_take_one_step_per_loop_iteration_with_other_work_between() -> None:
    baton = Baton()
    log: List[str] = []
    turns = [asyncio.ensure_future(stepped(_turn(log, n, 3)(), baton)) for n in "abc"]
    await asyncio.gather(_ticker(log, 40), *turns)
    trace = "".join(log)
    assert trace.count("a") == trace.count("b") == trace.count("c") == 3
    assert _back_to_back(trace) == [], trace


@on_each_loop
async def test_steps_within_the_budget_run_back_to_back() -> None:
    """Quick steps cost no extra loop iteration each: the budget is not used up."""
    stepping.STEP_BUDGET = 60.0
    baton = Baton()
    log: List[str] = []
    turns = [asyncio.ensure_future(stepped(_turn(log, n, 3)(), baton)) for n in "abc"]
    await asyncio.gather(_ticker(log, 40), *turns)
    assert _back_to_back("".join(log))


@on_each_loop
async def test_once_the_budget_is_spent_other_work_runs_before_the_next_step() -> None:
    stepping.STEP_BUDGET = 0.002
    baton = Baton()
    log: List[str] = []
    turns = [asyncio.ensure_future(stepped(_turn(log, n, 2, 0.003)(), baton)) for n in "abc"]
    await asyncio.gather(_ticker(log, 40), *turns)
    trace = "".join(log)
    assert _back_to_back(trace) == [], trace  # each step alone spends the budget


@on_each_loop
async def test_without_the_baton_ready_turns_run_back_to_back() -> None:
    """The reference for the test above: plain tasks put their steps side by side."""
    log: List[str] = []
    turns = [asyncio.ensure_future(_turn(log, n, 3)()) for n in "abc"]
    await asyncio.gather(_ticker(log, 40), *turns)
    assert "abc" in "".join(log)


@on_each_loop
async def test_the_turn_runner_steps_its_turns() -> None:
    runner = TurnRunner(max_concurrent=8)
    log: List[str] = []
    for name in "abcd":

        async def job(turn: Callable[[], Coroutine[Any, Any, str]] = _turn(log, name, 3)) -> None:
            await turn()

        runner.submit(name, job)
    await asyncio.gather(_ticker(log, 60), runner.join())
    trace = "".join(log)
    assert sorted(trace.replace("-", "")) == sorted("abcd" * 3)
    assert _back_to_back(trace) == [], trace


@on_each_loop
async def test_a_suspended_turn_does_not_hold_the_baton() -> None:
    baton = Baton()
    log: List[str] = []
    action_server = asyncio.Event()

    async def waits_on_io() -> None:
        log.append("waiting")
        await action_server.wait()
        log.append("resumed")

    waiting = asyncio.ensure_future(stepped(waits_on_io(), baton))
    await asyncio.sleep(0)
    assert await stepped(_turn(log, "b", 4)(), baton) == "b"  # ran while the other waits
    action_server.set()
    await waiting
    assert log == ["waiting", "b", "b", "b", "b", "resumed"]


@on_each_loop
async def test_values_exceptions_and_context_are_those_of_the_plain_coroutine() -> None:
    baton = Baton()
    request = contextvars.ContextVar("request", default="none")
    request.set("outer")
    task = asyncio.current_task()

    async def inner() -> str:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.set_exception, ValueError("from a future"))
        try:
            await future
        except ValueError as exc:
            caught = str(exc)
        assert asyncio.current_task() is task
        return f"{caught} in {request.get()}"

    assert await stepped(inner(), baton) == "from a future in outer"

    async def fails() -> None:
        await asyncio.sleep(0)
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await stepped(fails(), baton)

    async def times_out() -> str:  # wait_for cancels inside the task (3.12: asyncio.timeout)
        try:
            await asyncio.wait_for(asyncio.sleep(60), 0.01)
        except asyncio.TimeoutError:
            return "timed out"
        return "slept"

    assert await stepped(times_out(), baton) == "timed out"

    if sys.version_info >= (3, 11):  # Rasa Pro's Python: `asyncio.timeout` uncancels the task

        async def scoped_timeout() -> str:
            try:
                async with asyncio.timeout(0.01):
                    await asyncio.sleep(60)
            except TimeoutError:
                current = asyncio.current_task()
                assert current is not None and current.cancelling() == 0
                return "timed out"
            return "slept"

        assert await stepped(scoped_timeout(), baton) == "timed out"
    assert await stepped(_turn([], "after", 2)(), baton) == "after"  # baton given back


@on_each_loop
async def test_a_cancellation_reaches_the_turn_at_once_even_while_it_waits_for_the_baton() -> None:
    baton = Baton()
    log: List[str] = []
    reply = asyncio.Event()

    async def turn() -> None:
        try:
            await reply.wait()  # suspended: the baton is free for others
            log.append("never")
        except asyncio.CancelledError:
            log.append("cleanup")
            raise

    task = asyncio.ensure_future(stepped(turn(), baton))
    await asyncio.sleep(0)
    await baton.take()  # another turn's step holds it now
    reply.set()
    for _ in range(3):
        await asyncio.sleep(0)  # the turn woke up and queued for the baton
    behind = asyncio.ensure_future(baton.take())  # a third turn queues behind it
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["cleanup"]  # without waiting for the baton
    await asyncio.sleep(0)
    assert not behind.done()  # the cancelled turn gave away no baton it did not hold
    baton.give()
    await asyncio.wait_for(behind, GUARD)
    baton.give()
    assert await stepped(_turn([], "next", 1)(), baton) == "next"  # nothing left stuck


@on_each_loop
async def test_a_turn_may_handle_its_cancellation_and_finish() -> None:
    baton = Baton()
    started = asyncio.Event()

    async def stubborn() -> str:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(0)  # cleanup that itself awaits
            return "cleaned up"
        return "slept"

    task = asyncio.ensure_future(stepped(stubborn(), baton))
    await started.wait()
    task.cancel()
    assert await task == "cleaned up"


def test_a_baton_left_held_by_a_closed_loop_is_free_on_the_next() -> None:
    baton = Baton()
    first = asyncio.new_event_loop()
    first.run_until_complete(baton.take())  # the step never ended: that loop stopped
    first.close()
    second = asyncio.new_event_loop()
    try:
        second.run_until_complete(asyncio.wait_for(baton.take(), GUARD))
    finally:
        second.close()


@on_each_loop
async def test_a_cancelled_waiter_passes_the_baton_on_only_if_it_was_handed_it() -> None:
    baton = Baton()
    await baton.take()
    first, second, third = (asyncio.ensure_future(baton.take()) for _ in range(3))
    await asyncio.sleep(0)  # all queued
    first.cancel()  # never handed the baton: it has nothing to pass on
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.sleep(0)
    assert not second.done()  # still this step's
    baton._hand_over()  # what `give` schedules: `second` is handed the baton ...
    second.cancel()  # ... and cancelled before it could run
    with pytest.raises(asyncio.CancelledError):
        await second
    await asyncio.wait_for(third, GUARD)  # passed on, not lost


@on_each_loop
async def test_a_side_task_cancelled_before_its_first_step_leaves_no_coroutine_unawaited() -> None:
    runner = TurnRunner()
    ran: List[str] = []

    async def typing_call() -> None:
        ran.append("called")

    coroutine = typing_call()
    task = runner.side_task(coroutine)
    task.cancel()  # before the loop ran it: the typing timer of a turn that ended at once
    await asyncio.wait({task})
    assert task.cancelled() and ran == []
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED  # so never "unawaited"


@on_each_loop
async def test_stepped_inside_a_stepped_task_runs_its_coroutine_within_the_outer_steps() -> None:
    baton = Baton()
    log: List[str] = []

    async def outer() -> str:
        log.append("outer")
        inner = await stepped(_turn(log, "i", 2)(), baton)  # would wait for itself
        await asyncio.sleep(0)
        return inner

    assert await asyncio.wait_for(stepped(outer(), baton), GUARD) == "i"
    assert log == ["outer", "i", "i"]
