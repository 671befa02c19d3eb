"""A pause for a cosmetic call that keeps failing (the typing indicator and read receipt).

An account or API version that refuses the show-typing endpoint would otherwise cost every
inbound message a wasted LoopMessage call and a log line, and add load to an API that is
down. Replies never go through it: they are retried and reported on their own.
"""

from __future__ import annotations

import time
from typing import Callable

__all__ = ["BREAK_AFTER", "BREAK_FOR", "Breaker"]

# Failures in a row that pause the calls, and for how many seconds.
BREAK_AFTER = 5
BREAK_FOR = 300.0


class Breaker:
    """After `after` failures in a row, no call for `pause` seconds. Then calls resume, and
    it takes `after` failures in a row again to pause them; any success resets the count."""

    def __init__(
        self,
        after: int = BREAK_AFTER,
        pause: float = BREAK_FOR,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._after = after
        self._pause = pause
        self._clock = clock
        self._failures = 0
        self._until = float("-inf")

    @property
    def paused(self) -> bool:
        return self._clock() < self._until

    def succeeded(self) -> None:
        self._failures = 0

    def failed(self) -> bool:
        """Count one failure; True when it is the one that pauses the calls. A call already
        on its way when the pause began and failing during it does not count."""
        if self.paused:
            return False
        self._failures += 1
        if self._failures < self._after:
            return False
        self._failures = 0
        self._until = self._clock() + self._pause
        return True
