"""Turns take the CPU one step at a time, so webhooks are answered between the steps.

Rasa's turns run on the event loop that also answers LoopMessage's webhooks. Between two
awaits that suspend, a turn computes without yielding: NLU, policies, the tracker's JSON,
a few milliseconds each. When several turns are ready, one loop iteration runs all their
steps back to back, and a webhook arriving meanwhile waits for the lot (BENCHMARKS.md: ack
p99 43-83 ms at full load with 8 turns computing at once). Here every step of a turn takes
the one `Baton` and gives it back when the turn suspends; once the steps since the loop last
polled its sockets have run for `STEP_BUDGET`, the next step waits for the loop to poll
them, so a webhook waits for at most about one step. A turn suspended on I/O (LoopMessage,
a custom action server, a database) does not hold the baton, so the CPU never idles while
any turn has work to do.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from typing import Any, Coroutine, Deque, Generator, Optional, TypeVar

__all__ = ["Baton", "stepped"]

T = TypeVar("T")

_stepping: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()  # tasks inside `stepped`


# Turn steps may run back to back for this long; then the loop polls its sockets before the
# next step, so a webhook waits at most this plus one step (BENCHMARKS.md section 2). Short
# steps (the ends of turns after a send, well under 1 ms) share a loop iteration instead of
# paying one each.
STEP_BUDGET = 0.001


class Baton:
    """One holder at a time, in arrival order; after `STEP_BUDGET` of steps, a loop turn.

    Handing over directly keeps short steps cheap: they run back to back in one loop
    iteration. Once the steps since the loop last polled its sockets have taken
    `STEP_BUDGET`, the baton goes on by a timer of 0 s instead: the next step runs after
    the loop has polled, behind the webhooks that came in meanwhile. (uvloop runs the
    callbacks queued while it runs callbacks in the same iteration, so a plain wake-up
    would not make room for them.)
    """

    def __init__(self) -> None:
        self._held = False
        self._waiters: Deque[asyncio.Future[None]] = deque()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._since: Optional[float] = None  # when the steps since the last poll began

    async def take(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new server loop (tests restart apps): start afresh
            self._loop, self._held, self._since = loop, False, None
            self._waiters.clear()
        if not self._held:
            self._held = True
            if self._since is None:
                self._since = time.perf_counter()
            return
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.give()  # handed over just as the taker was cancelled: pass it on
            raise

    def give(self) -> None:
        loop, since = self._loop, self._since
        spent = since is not None and time.perf_counter() - since >= STEP_BUDGET
        if spent and loop is not None and not loop.is_closed():
            self._since = None
            loop.call_later(0, self._hand_over)  # still held until then, even if free
        else:
            self._hand_over()

    def _hand_over(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # still held: now by that waiter
                if self._since is None:
                    self._since = time.perf_counter()
                return
        self._held = False


class _Suspend:
    """Passes what the inner coroutine yielded (a future, or None) up to the task."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self.value)


async def stepped(coro: Coroutine[Any, Any, T], baton: Baton) -> T:
    """Run `coro` to its end, holding `baton` during each step and never while suspended.

    The task running this is the one `coro` runs in (its context, `current_task()`, its
    cancellation): a cancellation is passed into `coro` at once, without waiting for the
    baton, so cleanup is never held up behind other turns. Inside a task that is stepped
    already, `coro` simply runs: its steps are the outer ones, and waiting for the baton
    from inside a step would wait for itself.
    """
    task = asyncio.current_task()
    if task in _stepping:
        return await coro
    if task is not None:
        _stepping.add(task)
    value: Any = None
    error: Optional[BaseException] = None
    try:
        while True:
            held = False
            if error is None:
                try:
                    await baton.take()
                    held = True
                except asyncio.CancelledError as exc:
                    error = exc
            try:
                yielded = coro.throw(error) if error is not None else coro.send(value)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            finally:
                if held:
                    baton.give()
            value, error = None, None
            try:
                value = await _Suspend(yielded)
            except GeneratorExit:  # this coroutine is being closed: `finally` closes coro
                raise
            except BaseException as exc:  # what the task throws in: a cancellation
                error = exc
    finally:
        coro.close()  # a no-op once it has finished; frees it if this task was torn down
        if task is not None:
            _stepping.discard(task)
