"""The garbage collector set for a server whose event loop acks webhooks between turns.

Every pause of the collector stops the loop that acks webhooks, so once the server has
started (Rasa has loaded its model) two settings apply, once per process:
- What is alive then is frozen: Rasa with its model is about half a million objects that
  live as long as the process, and every full collection would walk them all (~300 ms).
- The youngest generation is collected after `YOUNG_THRESHOLD` net new objects instead of
  Python's 700. A collection walks the young objects still alive, which are what the turns
  in flight hold, so its pause depends on those turns far more than on the threshold; the
  threshold sets how often it comes. At 200 saturated conversations, Python's default
  collected 293-352 times in 1200 turns (up to 9 ms for the middle generation and 15-22 ms
  for full passes); 50,000 once, for 16-22 ms, which took the ack p99 from 8.0-12.7 to
  6.2-8.3 ms at the same memory and turns/s (BENCHMARKS.md, "What the figures show").
A threshold the application has set itself (not Python's default) is left as it is.
"""

from __future__ import annotations

import gc
from typing import Optional

__all__ = ["PYTHON_DEFAULT_THRESHOLD", "YOUNG_THRESHOLD", "freeze_startup_objects",
           "raise_young_threshold"]  # fmt: skip

YOUNG_THRESHOLD = 50_000
PYTHON_DEFAULT_THRESHOLD = 700

_frozen = False


def freeze_startup_objects() -> int:
    """Exempt what is alive now from the collector's passes; how many objects (0 after the
    first call: once per process)."""
    global _frozen
    if _frozen:
        return 0
    _frozen = True
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def raise_young_threshold() -> Optional[int]:
    """Collect the youngest generation after `YOUNG_THRESHOLD` new objects; the new
    threshold, or None where the collector is off or its threshold was set by someone else."""
    young, middle, old = gc.get_threshold()
    if not gc.isenabled() or young != PYTHON_DEFAULT_THRESHOLD:
        return None
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    return YOUNG_THRESHOLD
