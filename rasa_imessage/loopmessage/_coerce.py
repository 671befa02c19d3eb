"""Lenient readers for optional fields of LoopMessage bodies.

A wrong type in an optional field (a number where a subject should be, a string
where a list should be) becomes "absent" instead of refusing the whole webhook:
LoopMessage retries a refused webhook 30 times over three hours, and the message it
carries would be lost anyway. Required things are checked by the callers.
"""

from __future__ import annotations

from collections.abc import Mapping  # isinstance: typing's aliases check slower
from typing import Any, Dict, List

__all__ = ["opt_bool", "opt_int", "opt_str", "str_list", "str_map"]


def opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def opt_int(value: Any) -> int | None:
    """An int, or a short string of digits (some integrations stringify codes)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and 0 < len(value) < 10 and value.isascii() and value.isdigit():
        return int(value)
    return None


def str_list(value: Any) -> List[str]:
    """The string items of a list; anything else is an empty list."""
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str)]
    return []


def str_map(value: Any) -> Dict[str, Any]:
    """A mapping with string keys, shallow-copied; anything else is an empty dict."""
    if isinstance(value, Mapping):
        return {key: item for key, item in value.items() if isinstance(key, str)}
    return {}
