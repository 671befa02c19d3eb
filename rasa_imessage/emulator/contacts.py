"""Contact normalisation as LoopMessage does it: phones to E.164, emails lower-cased.

Both generations accept a phone with or without ``+``, spaces, dashes, dots and brackets, as
long as it carries a country code, and answer with E.164 (``+13231112233``).
"""

from __future__ import annotations

import re
from typing import Literal

ContactKind = Literal["phone", "email"]

_PHONE_DECORATION = re.compile(r"[\s\-().]")
_PHONE_DIGITS = re.compile(r"[0-9]{8,15}")  # E.164 allows at most 15 digits
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


class ContactError(ValueError):
    """A contact that is neither a plausible international phone nor an email."""

    def __init__(self, kind: ContactKind, value: str) -> None:
        super().__init__(f"invalid {kind}: {value!r}")
        self.kind: ContactKind = kind


def normalize_contact(raw: str) -> tuple[str, ContactKind]:
    """Return the contact as LoopMessage writes it in responses and webhooks, and its kind."""
    value = raw.strip()
    if "@" in value:
        if not _EMAIL.fullmatch(value):
            raise ContactError("email", raw)
        return value.lower(), "email"
    digits = _PHONE_DECORATION.sub("", value)
    if digits.startswith("+"):
        digits = digits[1:]
    if not _PHONE_DIGITS.fullmatch(digits):
        raise ContactError("phone", raw)
    return "+" + digits, "phone"
