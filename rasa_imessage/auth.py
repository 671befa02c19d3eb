"""Webhook authentication: LoopMessage signs nothing; it sends back a header you chose.

The dashboard's webhook header becomes the `Authorization` value of every webhook. The only
check there is to make is an exact, constant-time comparison with that value.
"""

from __future__ import annotations

import hmac
from typing import Optional

__all__ = ["WebhookAuth"]


class WebhookAuth:
    """Compares an incoming `Authorization` header with the configured value."""

    def __init__(self, expected: Optional[str]) -> None:
        self._expected = expected.encode("utf-8") if expected is not None else None

    @property
    def enabled(self) -> bool:
        """False only when unauthenticated webhooks were explicitly allowed."""
        return self._expected is not None

    def is_valid(self, header: Optional[str]) -> bool:
        if self._expected is None:
            return True
        if header is None:
            return False
        try:
            # Sanic decodes header bytes as UTF-8 with surrogateescape: this restores them.
            received = header.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate no HTTP request can carry
            return False
        return hmac.compare_digest(received, self._expected)

    def __repr__(self) -> str:
        return f"WebhookAuth(enabled={self.enabled})"
