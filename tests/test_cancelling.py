"""cancel_and_wait: tasks end at shutdown even when a library loses their cancellation."""

from __future__ import annotations

import asyncio
from typing import Any, List, Set

import pytest

from rasa_imessage.cancelling import RECANCEL_EVERY, cancel_and_wait
from rasa_imessage.idempotency import MemoryStore, Recovered
from rasa_imessage.leases import LeaseKeeper

GUARD = 5  # a guard against a hang when a test fails, never a wait a test relies on


async def swallows_one_cancellation(log: List[str]) -> None:
    """Like a redis-py command that returns its result to a task cancelled meanwhile."""
    forever = asyncio.Event()
    try:
        await forever.wait()
    except asyncio.CancelledError:
        log.append("swallowed")
    log.append("ran on")
    await forever.wait()


async def test_a_task_that_lost_its_cancellation_is_cancelled_again_until_it_ends() -> None:
    log: List[str] = []
    task = asyncio.ensure_future(swallows_one_cancellation(log))
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task]), GUARD)
    assert task.cancelled() and log == ["swallowed", "ran on"]


async def test_a_task_cleaning_up_is_left_to_finish_its_cleanup() -> None:
    cleaning: Set[Any] = set()
    log: List[str] = []

    async def with_cleanup() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cleaning.add(asyncio.current_task())
            await asyncio.sleep(RECANCEL_EVERY * 4)  # longer than a re-cancel round
            log.append("cleaned up")
            raise

    task = asyncio.ensure_future(with_cleanup())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task], cleaning_up=cleaning.__contains__), GUARD)
    assert task.cancelled() and log == ["cleaned up"]


async def test_cancelling_the_caller_is_not_swallowed() -> None:
    log: List[str] = []
    task = asyncio.ensure_future(swallows_one_cancellation(log))
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(cancel_and_wait([task]))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    task.cancel()
    await asyncio.wait([task], timeout=GUARD)
    assert task.cancelled()


class ForgetfulStore(MemoryStore):
    """A shared store whose first `maintain` loses the cancellation that lands in it."""

    maintenance_interval = 0.01

    def __init__(self) -> None:
        super().__init__()
        self.rounds = 0
        self.entered = asyncio.Event()

    async def maintain(self, take_over: bool = True) -> List[Recovered]:
        self.rounds += 1
        if self.rounds == 1:
            self.entered.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                return []
        return []


async def test_the_lease_keeper_stops_though_the_store_lost_its_cancellation() -> None:
    store = ForgetfulStore()

    async def run(recovered: List[Recovered]) -> None:
        raise AssertionError("nothing to recover")

    keeper = LeaseKeeper(store, run, lambda: True)
    keeper.start()
    await asyncio.wait_for(store.entered.wait(), GUARD)
    stopping = asyncio.ensure_future(keeper.stop())
    stopped, _ = await asyncio.wait([stopping], timeout=GUARD)  # no cancel at the guard
    assert stopped and not keeper.running
    rounds = store.rounds
    await asyncio.sleep(ForgetfulStore.maintenance_interval * 5)
    assert store.rounds == rounds  # no round after stop
