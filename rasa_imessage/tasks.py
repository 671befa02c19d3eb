"""Background turns: tracked, bounded, and in arrival order per conversation.

Webhooks are acked before their Rasa turn runs. Each turn is queued behind the earlier turns
of its conversation (a FIFO per conversation, dropped once empty so memory stays bounded),
and at most `max_concurrent` turns run at once, which bounds what they ask of an action
server or a database. Their steps take the CPU one at a time (stepping.py), so the event
loop answers webhooks between them. A turn waiting on LoopMessage computes nothing:
inside `network_wait` it lends its place to another turn while LoopMessage answers, up to
`MAX_LENT` lent places (BENCHMARKS.md: with a 100 ms round trip, 8 lent places held
throughput at 38-43 turns/s, 64 give 78-168).
Because a conversation's turns never overlap, Rasa's
ticket lock is always free when a turn starts and never makes it wait for its 1 s poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from contextvars import ContextVar, Token
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Deque,
    Dict,
    Optional,
    Set,
    TypeVar,
)

from .cancelling import cancel_and_wait
from .stepping import Baton, stepped

__all__ = ["Draining", "QueueFull", "TurnRunner", "network_wait"]

logger = logging.getLogger(__name__)

Job = Callable[[], Coroutine[Any, Any, None]]
T = TypeVar("T")
OnCancel = Callable[[], Awaitable[None]]


class QueueFull(Exception):
    """More turns are waiting than the configured ceiling allows."""


class Draining(QueueFull):
    """`drain` is cancelling the turns left; a turn submitted now would escape it."""


class _Entry:
    __slots__ = ("job", "label", "on_cancel")

    def __init__(self, job: Job, label: str, on_cancel: Optional[OnCancel]) -> None:
        self.job = job
        self.label = label
        self.on_cancel = on_cancel


class _Gate:
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


class _Slot:
    """One job's place under the gate, for the length of the job."""

    def __init__(self, gate: _Gate) -> None:
        self.gate = gate
        self._token: Optional[Token[Optional[_Slot]]] = None
        self.held = False
        self.open = True

    async def take(self, *, resuming: bool = False) -> None:
        await self.gate.acquire(resuming=resuming)
        self.held = True

    def give_up(self) -> None:
        if self.held:
            self.held = False
            self.gate.release()

    async def __aenter__(self) -> _Slot:
        await self.take()
        self._token = _current_slot.set(self)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._token is not None:
            _current_slot.reset(self._token)
        self.open = False  # a task the job left behind must not take a place again
        self.give_up()


_current_slot: ContextVar[Optional[_Slot]] = ContextVar("rasa_imessage_turn", default=None)
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
    Outside a turn (a reminder, `trigger_intent`) it does nothing. Coming back, the turn
    gets a place before turns that have not started.
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


class TurnRunner:
    """Runs submitted jobs in the background; one worker task per busy conversation."""

    def __init__(self, max_concurrent: int = 64, max_queued: int = 10000) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if max_queued < 1:
            raise ValueError("max_queued must be at least 1")
        self._max_concurrent = max_concurrent
        self._max_queued = max_queued
        self._gate = _Gate(max_concurrent)
        self._baton = Baton()  # one turn step at a time: webhooks get answered in between
        self._queues: Dict[str, Deque[_Entry]] = {}
        self._workers: Set[asyncio.Task[None]] = set()
        # Cancelled workers running their `on_cancel` hooks: not to be cancelled again.
        self._cleaning: Set[Optional[asyncio.Task[Any]]] = set()
        self._pending = 0
        # Created on first use, inside the server's loop: on Python 3.8/3.9 an Event made in
        # __init__ binds to whatever loop was current then, not the one Sanic runs.
        self._idle_event: Optional[asyncio.Event] = None
        self._running = 0
        self._draining = False

    def stepped(self, coroutine: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
        """`coroutine` taking the CPU in turn with this runner's turns (stepping.py)."""
        return stepped(coroutine, self._baton)

    def side_task(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task for work beside the turns (a typing indicator), stepped as they are."""
        task = asyncio.ensure_future(self.stepped(coroutine))
        # Cancelled before its first step, the wrapper never ran and never closed `coroutine`.
        task.add_done_callback(lambda _: coroutine.close())
        return task

    @property
    def pending(self) -> int:
        """Jobs submitted and not finished (running or waiting)."""
        return self._pending

    @property
    def running(self) -> int:
        """Jobs started and not finished: at most `max_concurrent` of them computing, and at
        most as many again waiting on the network (`network_wait`)."""
        return self._running

    @property
    def conversations(self) -> int:
        """Conversations with work queued or running."""
        return len(self._queues)

    def submit(
        self,
        key: str,
        job: Job,
        *,
        label: str = "",
        on_cancel: Optional[OnCancel] = None,
        reserved: bool = False,
    ) -> None:
        """Queue `job` behind the earlier jobs of conversation `key`; never blocks.

        `reserved`: the caller counted this job against `max_queued` already (a webhook
        acked on the webhook port), so it is taken even if the queue filled up meanwhile.
        """
        if self._draining:
            raise Draining("shutting down: turns in flight are being drained")
        if not reserved and self._pending >= self._max_queued:
            raise QueueFull(f"{self._pending} turns are already waiting")
        entry = _Entry(job, label or key, on_cancel)
        self._pending += 1
        self._idle.clear()
        queue = self._queues.get(key)
        if queue is not None:
            queue.append(entry)
            return
        self._queues[key] = deque([entry])
        worker = asyncio.get_running_loop().create_task(self._work(key))
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _work(self, key: str) -> None:
        queue = self._queues[key]
        worker = asyncio.current_task()
        try:
            while queue:
                entry = queue[0]
                try:
                    async with _Slot(self._gate):
                        self._running += 1
                        try:
                            await self.stepped(entry.job())
                        finally:
                            self._running -= 1
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("iMessage turn failed: %s", entry.label)
                queue.popleft()
                self._finish_one()
                if self._draining:  # the job ran on through a lost cancellation: stop here
                    raise asyncio.CancelledError
        except asyncio.CancelledError:
            self._cleaning.add(worker)
            for entry in list(queue):
                if entry.on_cancel is not None:
                    try:
                        await asyncio.shield(entry.on_cancel())
                    except Exception:
                        logger.exception("cleanup of a cancelled turn failed: %s", entry.label)
                self._finish_one()
            queue.clear()
            raise
        finally:
            self._cleaning.discard(worker)
            if self._queues.get(key) is queue:
                del self._queues[key]

    @property
    def _idle(self) -> asyncio.Event:
        if self._idle_event is None:
            self._idle_event = asyncio.Event()
            if self._pending == 0:
                self._idle_event.set()
        return self._idle_event

    def _finish_one(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()

    async def join(self) -> None:
        """Wait until every submitted job has finished (tests and benchmarks use this)."""
        await self._idle.wait()

    async def drain(self, timeout: float) -> int:
        """Let work finish for up to `timeout` seconds, then cancel the rest.

        Returns how many jobs were cancelled; their `on_cancel` hooks have run, so a
        webhook whose turn never completed can be handled again when LoopMessage retries.
        Work submitted while turns finish is accepted (a failed send queues the bot's
        delivery-failed turn); once cancelling starts, `submit` raises `Draining`: a new
        worker would escape the cancellation, and a job added to a queue being cancelled
        would be dropped without its `on_cancel`. Afterwards the runner accepts work again
        (a test client starts and stops the same app many times).
        """
        if self._pending:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout)
        self._draining = True
        try:
            # A worker cancelled before its first step never runs its cleanup: let the ones
            # created just now reach their `try` before they are cancelled.
            await asyncio.sleep(0)
            left = self._pending
            await cancel_and_wait(list(self._workers), cleaning_up=self._cleaning.__contains__)
        finally:
            self._draining = False
        if left:
            logger.warning("shutdown: %d iMessage turn(s) did not finish in %.1f s", left, timeout)
        return left
