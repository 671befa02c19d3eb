"""A `Range: bytes=...` request header, read as RFC 9110 §14 asks of a server.

Browsers ask for parts of audio and video to seek in them (and Apple asks servers of video
for Safari to answer them), so the bot's own files (hosted_route.py) and the emulator's
uploads answer one range with 206, as a CDN does. What this reads as no range (several
ranges, another unit, a malformed header) gets the whole file, which the RFC allows; a
range that starts past the end is `UNSATISFIABLE` (416).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, Optional, Tuple, Union

__all__ = ["UNSATISFIABLE", "Part", "part_to_send", "requested_range"]

UNSATISFIABLE: Final = "unsatisfiable"

# A header longer than this is no single range of any file (20 digits a side is 10^20 bytes).
_MAX_HEADER = 64


def requested_range(
    header: Optional[str], size: int
) -> Union[Tuple[int, int], Literal["unsatisfiable"], None]:
    """The first and last byte (inclusive) a one-range header asks for, within `size`;
    None for the whole file; `UNSATISFIABLE` when it starts past the end."""
    if not header or len(header) > _MAX_HEADER:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not _digits(first or "0") or not _digits(last or "0"):
        return None
    if not first:  # the last N bytes
        if not last or int(last) == 0:
            return UNSATISFIABLE if last else None
        return (max(0, size - int(last)), size - 1) if size else UNSATISFIABLE
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # invalid: ignored, as the RFC says
    return UNSATISFIABLE if start >= size else (start, end)


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


@dataclass(frozen=True)
class Part:
    """What a file of some size is answered with: 200 and all of it, 206 and one range, or
    416 and nothing; `content_range` is the header 206 and 416 carry."""

    status: int
    first: int
    length: int
    content_range: Optional[str] = None


def part_to_send(header: Optional[str], size: int) -> Part:
    """The answer to a request with this `Range` header (or none) for `size` bytes."""
    wanted = requested_range(header, size)
    if wanted == UNSATISFIABLE:
        return Part(416, 0, 0, f"bytes */{size}")
    if wanted is None:
        return Part(200, 0, size)
    first, last = wanted
    return Part(206, first, last + 1 - first, f"bytes {first}-{last}/{size}")
