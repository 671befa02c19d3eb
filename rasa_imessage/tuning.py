"""Process-wide changes made once Rasa has loaded its model, each one logged.

They make every turn of the server cheaper (or its pauses shorter), whatever channel it came
from, so they are made once, when the server has started: the compiled check of custom
actions' answers (action_checks.py), Rasa's event classes found by name (event_types.py), the
garbage collector's settings (collector.py), and the hint for what is left slow (hints.py).
"""

from __future__ import annotations

import logging
from typing import Any

from .action_checks import cache_action_schema
from .collector import freeze_startup_objects, raise_young_threshold
from .config import IMessageConfig
from .event_types import cache_event_types
from .hints import action_validation_hint

__all__ = ["tune_process"]

logger = logging.getLogger(__name__)


def tune_process(config: IMessageConfig, agent: Any) -> None:
    """What the server's start does for this process; `agent` is Rasa's loaded bot (or None)."""
    if config.cache_action_schema:
        logger.info("iMessage: one compiled validator for custom actions' answers: %s",
                    cache_action_schema(agent).value)  # fmt: skip
    if config.cache_event_types:
        logger.info("iMessage: Rasa's event classes found by name: %s",
                    cache_event_types().value)  # fmt: skip
    hint = action_validation_hint(agent)
    if hint:
        logger.warning(hint)
    frozen = freeze_startup_objects()  # after Rasa has loaded the model
    if frozen:
        logger.info("%d start-up objects exempted from full GC passes", frozen)
    threshold = raise_young_threshold()
    if threshold:
        logger.info("GC: youngest generation collected every %d new objects", threshold)
