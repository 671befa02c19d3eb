"""Several messages sent one after another, as one call: what came of them.

A bot response often makes several bubbles (paragraphs, a text and its picture), and they
must reach the user in order, so each is sent only once LoopMessage has accepted the one
before, and a failure stops the rest: later bubbles would arrive out of context, or fail the
same way. Asking for all of them in one call costs the send worker's caller one frame and
one answer for the lot instead of one per bubble (BENCHMARKS.md, eighteenth round).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional, Sequence, Tuple

from ._errors import LoopMessageError
from ._frames import PackedError, pack_error, unpack_error
from ._models import SendResult
from ._send import SendRequest

__all__ = ["SentInOrder", "send_in_order"]


@dataclass(frozen=True)
class SentInOrder:
    """The results of the messages accepted, in order, and the error that stopped the rest.

    `error` is None when every message was accepted. Otherwise the message after the last
    result failed with it, and the ones after that were not tried.
    """

    results: Tuple[SendResult, ...]
    error: Optional[LoopMessageError] = None

    def __reduce__(self) -> Tuple[Callable[..., SentInOrder], Tuple[Any, ...]]:
        # An error's own pickling calls its `__init__` with its args, whose signature varies
        # between the package's error classes: it crosses the worker's pipe packed instead.
        packed = pack_error(self.error) if self.error is not None else None
        return _rebuild, (self.results, packed)


def _rebuild(results: Tuple[SendResult, ...], packed: Optional[PackedError]) -> SentInOrder:
    error = unpack_error(packed) if packed is not None else None
    assert error is None or isinstance(error, LoopMessageError)
    return SentInOrder(results, error)


async def send_in_order(
    send: Callable[[SendRequest], Awaitable[SendResult]], requests: Sequence[SendRequest]
) -> SentInOrder:
    """Each request once the one before is accepted; the first failure stops the rest."""
    results = []
    for request in requests:
        try:
            results.append(await send(request))
        except LoopMessageError as exc:
            return SentInOrder(tuple(results), exc)
    return SentInOrder(tuple(results))
