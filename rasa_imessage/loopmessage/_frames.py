"""The wire between the bot's process and the send worker's child: frames and errors.

A frame is a 4-byte length and a pickle. Both ends are this package, so nothing else is ever
unpickled. An exception crosses as its class, its args and its attributes, and is rebuilt
without its `__init__`, whose signature varies between the package's error classes.
"""

from __future__ import annotations

import pickle
from typing import Any, Dict, List, Tuple, Type

__all__ = ["PackedError", "frame", "pack_error", "take_frames", "unpack_error"]


def frame(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(payload).to_bytes(4, "big") + payload


def take_frames(buffer: bytearray) -> List[Any]:
    """The complete frames at the start of `buffer`, unpickled; removes them from it."""
    messages, start = [], 0
    while len(buffer) - start >= 4:
        size = int.from_bytes(buffer[start : start + 4], "big")
        end = start + 4 + size
        if len(buffer) < end:
            break
        # Only ever frames of this module's other end: the bot's process or its own child.
        messages.append(pickle.loads(buffer[start + 4 : end]))  # noqa: S301
        start = end
    del buffer[:start]
    return messages


PackedError = Tuple[Type[BaseException], Tuple[Any, ...], Dict[str, Any]]


def pack_error(exc: BaseException) -> PackedError:
    return type(exc), exc.args, dict(vars(exc))


def unpack_error(packed: PackedError) -> BaseException:
    """The child's exception, rebuilt without calling its `__init__` (whose signature varies)."""
    cls, args, state = packed
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc
