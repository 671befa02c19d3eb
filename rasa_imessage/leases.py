"""The idempotency store's upkeep while the server runs: renew leases, take over orphans.

A shared store (Redis) holds each claimed webhook as a lease. This process renews its own
leases every `maintenance_interval` seconds, so they run out only if it dies; in the same call
it takes over the webhooks of replicas that stopped renewing, and hands them to the channel
to run. A store without a maintenance interval (the in-memory one) starts no task at all.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, List, Optional

from .cancelling import cancel_and_wait
from .idempotency import IdempotencyStore, Recovered

__all__ = ["LeaseKeeper"]

logger = logging.getLogger(__name__)

OnRecovered = Callable[[List[Recovered]], Awaitable[None]]
CanTakeOver = Callable[[], bool]


class LeaseKeeper:
    """One background task calling `store.maintain()` between `start()` and `stop()`."""

    def __init__(
        self, store: IdempotencyStore, on_recovered: OnRecovered, can_take_over: CanTakeOver
    ) -> None:
        self._store = store
        self._on_recovered = on_recovered
        # Asked before each round: while the model loads, the queue is full or the server
        # drains, leases are still renewed but nothing is taken over (a take-over that
        # could not run would count against the webhook's few attempts).
        self._can_take_over = can_take_over
        self._task: Optional[asyncio.Task[None]] = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        interval = self._store.maintenance_interval
        if interval is None or self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._keep(interval))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait([task])

    async def _keep(self, interval: float) -> None:
        while True:
            try:
                recovered = await self._store.maintain(take_over=self._can_take_over())
                if recovered:
                    await self._on_recovered(recovered)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away for a moment: the next round tries again
                logger.exception("could not renew the iMessage webhook leases")
            await asyncio.sleep(interval)
