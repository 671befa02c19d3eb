"""Background turns: tracked, bounded, and in arrival order per conversation.

Webhooks are acked before their Rasa turn runs. Each turn is queued behind the earlier turns
of its conversation (a FIFO per conversation, dropped once empty so memory stays bounded),
and at most `max_concurrent` turns run at once, so the event loop that also answers webhooks
is never flooded by CPU-bound turns. Because a conversation's turns never overlap, Rasa's
ticket lock is always free when a turn starts and never makes it wait for its 1 s poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Awaitable, Callable, Deque, Dict, Optional, Set

__all__ = ["Draining", "QueueFull", "TurnRunner"]

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]
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


class TurnRunner:
    """Runs submitted jobs in the background; one worker task per busy conversation."""

    def __init__(self, max_concurrent: int = 8, max_queued: int = 10000) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if max_queued < 1:
            raise ValueError("max_queued must be at least 1")
        self._max_concurrent = max_concurrent
        self._max_queued = max_queued
        self._semaphore: Optional[asyncio.Semaphore] = None
        self._queues: Dict[str, Deque[_Entry]] = {}
        self._workers: Set[asyncio.Task[None]] = set()
        self._pending = 0
        # Created on first use, inside the server's loop: on Python 3.8/3.9 an Event made in
        # __init__ binds to whatever loop was current then, not the one Sanic runs.
        self._idle_event: Optional[asyncio.Event] = None
        self._running = 0
        self._draining = False

    @property
    def pending(self) -> int:
        """Jobs submitted and not finished (running or waiting)."""
        return self._pending

    @property
    def running(self) -> int:
        """Jobs executing right now (at most `max_concurrent`)."""
        return self._running

    @property
    def conversations(self) -> int:
        """Conversations with work queued or running."""
        return len(self._queues)

    def submit(
        self, key: str, job: Job, *, label: str = "", on_cancel: Optional[OnCancel] = None
    ) -> None:
        """Queue `job` behind the earlier jobs of conversation `key`; never blocks."""
        if self._draining:
            raise Draining("shutting down: turns in flight are being drained")
        if self._pending >= self._max_queued:
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
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._max_concurrent)
        queue = self._queues[key]
        try:
            while queue:
                entry = queue[0]
                try:
                    async with self._semaphore:
                        self._running += 1
                        try:
                            await entry.job()
                        finally:
                            self._running -= 1
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("iMessage turn failed: %s", entry.label)
                queue.popleft()
                self._finish_one()
        except asyncio.CancelledError:
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
            workers = list(self._workers)
            for worker in workers:
                worker.cancel()
            if workers:
                await asyncio.gather(*workers, return_exceptions=True)
        finally:
            self._draining = False
        if left:
            logger.warning("shutdown: %d iMessage turn(s) did not finish in %.1f s", left, timeout)
        return left
