"""The parts of one emulator that request handlers share, built once in server.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .config import EmulatorConfig
from .events import EventBus
from .faults import Faults
from .lifecycle import Lifecycle
from .store import Store


@dataclass(frozen=True)
class Context:
    """What the API, dev and page routes work on. ``stopping`` is set when the emulator stops."""

    config: EmulatorConfig
    store: Store
    faults: Faults
    bus: EventBus
    lifecycle: Lifecycle
    stopping: asyncio.Event
