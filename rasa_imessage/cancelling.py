"""Cancel background tasks and be sure they end, even when a cancellation is lost.

A cancellation can be swallowed by a library: redis-py's asyncio client sometimes hands a
command's result to a task that was cancelled while the command ran, and the task runs on
as if nothing happened (seen on redis-py 4.6 and 8.1, in about one cancel of ten that lands
mid-command). A shutdown that cancels once and then waits can hang forever on such a task.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Collection

__all__ = ["cancel_and_wait"]

RECANCEL_EVERY = 0.05  # seconds between cancellations of a task that ignored the last one


def _never(task: asyncio.Future[Any]) -> bool:
    return False


async def cancel_and_wait(
    tasks: Collection[asyncio.Future[Any]],
    *,
    cleaning_up: Callable[[asyncio.Future[Any]], bool] = _never,
) -> None:
    """Cancel `tasks` and wait until all have ended, cancelling again any that ran on.

    `cleaning_up(task)` says that a task got its cancellation and is running its cleanup:
    it is left to finish, since a second cancellation would cut that cleanup short.
    Cancelling the caller does not cancel the tasks any further; they are waited for by
    `asyncio.wait`, which never swallows the caller's own cancellation.
    """
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    while pending:
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_EVERY)
        for task in pending:
            if not cleaning_up(task):
                task.cancel()
