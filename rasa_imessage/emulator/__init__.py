"""A local LoopMessage-compatible server with a chat page, for development and tests.

It speaks either API generation (send, show-typing, status, with LoopMessage's validation
and error codes), posts webhooks to a bot the way LoopMessage does (same headers, 15 s
timeout, retries with the same ``webhook_id``), and serves a Messages-style chat page at
its root URL.
"""

from __future__ import annotations

from .config import DEFAULT_SENDERS, EmulatorConfig
from .events import Event, EventBus, Subscription
from .server import Emulator, EmulatorThread, serve, wait_for_stop_signal

__all__ = [
    "DEFAULT_SENDERS",
    "Emulator",
    "EmulatorConfig",
    "EmulatorThread",
    "Event",
    "EventBus",
    "Subscription",
    "serve",
    "wait_for_stop_signal",
]
