"""Fault switches: make the emulator misbehave the way LoopMessage can, on demand.

One-shot faults (the next send, the next delivery, the next webhook) are consumed by the
first request they apply to, so a test or a developer can provoke exactly one failure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Mapping, Union

from .events import JsonDict

SendFault = Union[int, Literal["http500", "timeout"], None]

# Longest webhook delay the switch accepts: LoopMessage itself gives up after 15 s.
MAX_WEBHOOK_DELAY = 120.0


@dataclass
class Faults:
    """The current switches. ``fail_next_send`` is an error code, ``"http500"`` or ``"timeout"``."""

    fail_next_send: SendFault = None
    fail_next_delivery: bool = False
    webhook_delay: float = 0.0
    duplicate_next_webhook: bool = False

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    def take_send_fault(self) -> SendFault:
        fault, self.fail_next_send = self.fail_next_send, None
        return fault

    def take_delivery_fault(self) -> bool:
        fault, self.fail_next_delivery = self.fail_next_delivery, False
        return fault

    def take_duplicate(self) -> bool:
        fault, self.duplicate_next_webhook = self.duplicate_next_webhook, False
        return fault

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply switches from JSON; raise ValueError naming the switch that was wrong."""
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise ValueError(f"unknown fault switch(es): {', '.join(sorted(unknown))}")
        if "fail_next_send" in changes:
            self.fail_next_send = _send_fault(changes["fail_next_send"])
        for flag in ("fail_next_delivery", "duplicate_next_webhook"):
            if flag in changes:
                if not isinstance(changes[flag], bool):
                    raise ValueError(f"{flag} must be true or false")
                setattr(self, flag, changes[flag])
        if "webhook_delay" in changes:
            delay = changes["webhook_delay"]
            if isinstance(delay, bool) or not isinstance(delay, (int, float)):
                raise ValueError("webhook_delay must be a number of seconds")
            if not 0 <= delay <= MAX_WEBHOOK_DELAY:
                raise ValueError(f"webhook_delay must be between 0 and {MAX_WEBHOOK_DELAY:g} s")
            self.webhook_delay = float(delay)

    def to_json(self) -> JsonDict:
        return asdict(self)


def _send_fault(value: Any) -> SendFault:
    if value is None or value in ("http500", "timeout"):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 9999:
        return value
    raise ValueError("fail_next_send must be an error code, 'http500', 'timeout' or null")
