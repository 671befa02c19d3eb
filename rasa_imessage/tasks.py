"""Background turns: tracked, bounded, and in arrival order per conversation.

Webhooks are acked before their Rasa turn runs. Each turn is queued behind the earlier turns
of its conversation (a FIFO per conversation, dropped once empty so memory stays bounded),
and at most `max_concurrent` turns run at once, which bounds what they ask of an action
server or a database. Their steps take the CPU one at a time (stepping.py), so the event
loop answers webhooks between them. A turn waiting on LoopMessage lends its place
to another turn meanwhile (lending.py).
Because a conversation's turns never overlap, Rasa's
ticket lock is always free when a turn starts and never makes it wait for its 1 s poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import (
    Any,
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
from .lending import Gate, Slot
from .stepping import Baton, stepped

__all__ = ["MAX_CONCURRENT", "MAX_QUEUED", "Draining", "QueueFull", "TurnRunner"]

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


# The defaults of `max_concurrent_turns` and `max_queued_turns` (options.py): 256 turns at
# once, waiting on an action server included (64 capped a 300 ms action at about 190 turns/s,
# BENCHMARKS.md section 1d).
MAX_CONCURRENT = 256
MAX_QUEUED = 10000


class TurnRunner:
    """Runs submitted jobs in the background; one worker task per busy conversation."""

    def __init__(self, max_concurrent: int = MAX_CONCURRENT, max_queued: int = MAX_QUEUED) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if max_queued < 1:
            raise ValueError("max_queued must be at least 1")
        self._max_concurrent = max_concurrent
        self._max_queued = max_queued
        self._gate = Gate(max_concurrent)
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
                    async with Slot(self._gate):
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
