"""When to try a LoopMessage request again, and how long to wait first.

A bot reply is worth a short wait, not a long one: the user is looking at the
conversation. So retries are few and brief, and a server that asks for a longer
pause than RETRY_AFTER_CAP gets none: the error goes to the caller at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random as _random
import time
from dataclasses import dataclass
from datetime import timezone
from typing import Awaitable, Callable, Mapping

from ._errors import APIConnectionError, APIError, LoopMessageError

__all__ = [
    "FIRST_DELAY",
    "MAX_DELAY",
    "MAX_RETRIES",
    "RETRY_AFTER_CAP",
    "RetryPolicy",
    "parse_retry_after",
]

# Two retries, as openai-python does: three attempts fit in a typing indicator.
MAX_RETRIES = 2
# 1010 says "retry after a short delay"; a sender's FIFO queue runs about one
# operation per second, so half a second, doubling, reaches the queue's pace.
FIRST_DELAY = 0.5
# Backoff ceiling, openai-python's figure; with two retries it is never reached.
MAX_DELAY = 8.0
# LoopMessage documents no 429 or Retry-After. If one asks for longer than this,
# the user has given up on the reply; fail now and let the bot say so.
RETRY_AFTER_CAP = 60.0


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with jitter; `sleep` and `random` are injectable for tests."""

    max_retries: int = MAX_RETRIES
    first_delay: float = FIRST_DELAY
    max_delay: float = MAX_DELAY
    retry_after_cap: float = RETRY_AFTER_CAP
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    random: Callable[[], float] = _random.random

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {self.max_retries}")
        if not (0 <= self.first_delay <= self.max_delay):
            raise ValueError("need 0 <= first_delay <= max_delay")

    def should_retry(self, error: LoopMessageError) -> bool:
        """Connection failures yes; answered errors only if retryable and not asking too long."""
        if isinstance(error, APIConnectionError):
            return True
        if not isinstance(error, APIError) or not error.retryable:
            return False
        return error.retry_after is None or error.retry_after <= self.retry_after_cap

    def delay(self, attempt: int, error: LoopMessageError) -> float:
        """Seconds to wait after failed attempt number `attempt` (0-based)."""
        retry_after = error.retry_after if isinstance(error, APIError) else None
        if retry_after is not None and 0 < retry_after <= self.retry_after_cap:
            return retry_after
        backoff = min(self.first_delay * 2.0 ** min(attempt, 64), self.max_delay)
        return backoff * (0.75 + 0.25 * self.random())


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _http_date(value: str, now: Callable[[], float]) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
        if parsed.tzinfo is None:  # "-0000" means UTC with no zone information
            parsed = parsed.replace(tzinfo=timezone.utc)
        seconds = parsed.timestamp() - now()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_retry_after(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """Seconds the server asks us to wait, or None; never raises.

    Reads `retry-after-ms`, then `retry-after` as seconds (fractions allowed) or as an
    HTTP date. Negative, infinite, NaN or unparseable values are None.
    """
    lowered = {str(key).lower(): value for key, value in headers.items()}
    milliseconds = lowered.get("retry-after-ms")
    if isinstance(milliseconds, str):
        parsed = _seconds(milliseconds)
        if parsed is not None:
            return parsed / 1000.0
    value = lowered.get("retry-after")
    if not isinstance(value, str):
        return None
    seconds = _seconds(value)
    return seconds if seconds is not None else _http_date(value, now)
