"""Places for turns to compute in, and lending them while a turn waits on LoopMessage.

At most `max_concurrent` turns compute at once (TurnRunner, tasks.py); each holds a place
under the `Gate` for the length of its job (`Slot`). A turn waiting on LoopMessage computes
nothing: inside `network_wait` it lends its place to another turn while LoopMessage
answers, up to `MAX_LENT` lent places (BENCHMARKS.md: with a 100 ms round trip, 8 lent
places held throughput at 38-43 turns/s, 64 give 78-168). Coming back, a turn gets a place
before turns that have not started.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from contextvars import ContextVar, Token
from typing import Any, AsyncIterator, Deque, Optional

__all__ = [
    "HEALTHY_WAIT",
    "MAX_LENT",
    "Gate",
    "Slot",
    "detach_from_turn",
    "idle_wait",
    "network_wait",
]


class Gate:
    """At most `slots` turns computing; turns back from the network go before new ones.

    A turn that lent its place during a send is finishing work under way: letting it in
    first keeps turns short instead of making each wait behind the whole queue again.
    A released place goes straight to the next waiter, so none can slip in between.
    """

    def __init__(self, slots: int) -> None:
        self.lending = False  # set by `network_wait` from how LoopMessage answers
        self.lendable = MAX_LENT  # places lent at once: turns in flight <= slots + MAX_LENT
        self._free = slots
        self._resuming: Deque[asyncio.Future[None]] = deque()
        self._starting: Deque[asyncio.Future[None]] = deque()

    async def acquire(self, *, resuming: bool) -> None:
        if self._free:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._resuming if resuming else self._starting).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a place just as the turn was cancelled: pass it on
            raise

    def release(self) -> None:
        for queue in (self._resuming, self._starting):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1


class Slot:
    """One job's place under the gate, for the length of the job."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self._token: Optional[Token[Optional[Slot]]] = None
        self.held = False
        self.open = True

    async def take(self, *, resuming: bool = False) -> None:
        await self.gate.acquire(resuming=resuming)
        self.held = True

    def give_up(self) -> None:
        if self.held:
            self.held = False
            self.gate.release()

    async def __aenter__(self) -> Slot:
        await self.take()
        self._token = _current_slot.set(self)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._token is not None:
            _current_slot.reset(self._token)
        self.open = False  # a task the job left behind must not take a place again
        self.give_up()


_current_slot: ContextVar[Optional[Slot]] = ContextVar("rasa_imessage_turn", default=None)


def detach_from_turn() -> None:
    """For a task started inside a turn that outlives its steps (an outbox's sender): its
    `network_wait`s lend nothing, since the place is the turn's, which computes meanwhile,
    but still tell the gate how LoopMessage answers: with the outbox, a turn's replies are
    sent only there."""
    turn = _current_slot.get()
    if turn is None:
        return
    detached = Slot(turn.gate)
    detached.open = False  # holds no place and never takes one
    _current_slot.set(detached)


# Turns that may wait on LoopMessage at once beyond `max_concurrent`; each holds only its
# conversation, and aiohttp makes their requests cheap for the loop that acks webhooks.
MAX_LENT = 64
# LoopMessage answers far faster than this; a longer wait means it is slow or down.
HEALTHY_WAIT = 2.0


@contextlib.asynccontextmanager
async def network_wait() -> AsyncIterator[None]:
    """Lend the current turn's place to another turn while this one waits on the network.

    Only while LoopMessage answers: a wait that failed or took over `HEALTHY_WAIT` seconds
    stops the lending until one succeeds in time, so a slow or dead API never has more than
    `max_concurrent` turns started against it. At most `MAX_LENT` places are lent at once:
    with LoopMessage 100 ms away each turn spends ~300 ms on its calls, so lending only 8
    places held throughput at 38-43 turns/s; 64 give 78-168 turns/s on the same machine
    (BENCHMARKS.md).
    Outside a turn (a reminder, `trigger_intent`) it does nothing; in a task detached from
    a turn it only judges LoopMessage's answer. Coming back, the turn gets a place before
    turns that have not started.
    """
    slot = _current_slot.get()
    if slot is None:
        yield
        return
    gate = slot.gate
    lend = slot.held and gate.lending and gate.lendable > 0
    if lend:
        gate.lendable -= 1
        slot.give_up()
    loop = asyncio.get_running_loop()
    started, healthy = loop.time(), False
    try:
        yield
        healthy = loop.time() - started < HEALTHY_WAIT
    finally:
        gate.lending = healthy
        if lend:
            gate.lendable += 1
            if slot.open:
                await slot.take(resuming=True)


@contextlib.asynccontextmanager
async def idle_wait() -> AsyncIterator[None]:
    """Hold no place while the current turn waits for its contact's next bubble
    (merging.py): it computes nothing meanwhile, and other turns may. Coming back, it gets a
    place before turns that have not started. Outside a turn it does nothing."""
    slot = _current_slot.get()
    if slot is None or not slot.held:
        yield
        return
    slot.give_up()
    try:
        yield
    finally:
        if slot.open:
            await slot.take(resuming=True)
