"""Fault switches: make the emulator misbehave the way LoopMessage can, on demand.

One-shot faults (the next send, the next delivery, the next webhook) are consumed by the
first request they apply to, so a test or a developer can provoke exactly one failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable, Literal, Mapping, Union

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
    # Called after every change, so the page's switches follow one-shot faults being used.
    on_change: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def clear(self) -> None:
        self.update({"fail_next_send": None, "fail_next_delivery": False,
                     "webhook_delay": 0, "duplicate_next_webhook": False})  # fmt: skip

    def take_send_fault(self) -> SendFault:
        fault, self.fail_next_send = self.fail_next_send, None
        self._used(fault is not None)
        return fault

    def take_delivery_fault(self) -> bool:
        fault, self.fail_next_delivery = self.fail_next_delivery, False
        self._used(fault)
        return fault

    def take_duplicate(self) -> bool:
        fault, self.duplicate_next_webhook = self.duplicate_next_webhook, False
        self._used(fault)
        return fault

    def _used(self, changed: bool) -> None:
        if changed and self.on_change is not None:
            self.on_change()

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply switches from JSON; raise ValueError naming the switch that was wrong."""
        unknown = set(changes) - set(_SWITCHES)
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
        self._used(True)

    def to_json(self) -> JsonDict:
        return {name: getattr(self, name) for name in _SWITCHES}


_SWITCHES = tuple(f.name for f in fields(Faults) if f.name != "on_change")


def _send_fault(value: Any) -> SendFault:
    if value is None or value in ("http500", "timeout"):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 9999:
        return value
    raise ValueError("fail_next_send must be an error code, 'http500', 'timeout' or null")
