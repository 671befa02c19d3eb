"""Settings of one emulator instance, in one place.

An emulator speaks exactly one API generation, as the real service does: the current API
lives on a.loopmessage.com and the legacy one on server.loopmessage.com, and they differ in
field names, auth headers, statuses and webhook shapes. A bot configured with ``api: legacy``
is pointed at an emulator started with ``api="legacy"``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

Api = Literal["current", "legacy"]
APIS: tuple[Api, ...] = ("current", "legacy")

# LoopMessage retries a failed webhook 30 times: 10 at 30 s, 10 at 3 min, 10 at 15 min.
RETRY_SCHEDULE: tuple[float, ...] = (30.0,) * 10 + (180.0,) * 10 + (900.0,) * 10

# The emulated organization's one sender, unless it is given others.
DEFAULT_SENDERS = ("emulator-sender",)

# "typing: <int seconds, max 60>" (show-typing and the legacy webhook reply alike).
MAX_TYPING_SECONDS = 60


@dataclass(frozen=True)
class EmulatorConfig:
    """How one emulator listens, whom it calls back and which keys it accepts.

    ``retry_scale`` compresses LoopMessage's three-hour retry schedule (0.01 turns 30 s into
    0.3 s) so a developer sees retries happen while they watch. Secrets stay out of the repr.
    """

    host: str = "127.0.0.1"
    port: int = 0
    api: Api = "current"
    webhook_url: str | None = None
    webhook_auth: str | None = field(default=None, repr=False)
    api_keys: tuple[str, ...] = field(default=("emulator-key",), repr=False)
    authorization_key: str = field(default="emulator-auth", repr=False)
    secret_key: str = field(default="emulator-secret", repr=False)
    # The organization's senders (current API): a contact writes to one of them, and a send
    # that names none goes from the one the contact last wrote to, else the first.
    senders: tuple[str, ...] = DEFAULT_SENDERS
    sender_name: str = "bot@imsg.co"
    retry_scale: float = 0.01
    webhook_timeout: float = 15.0
    # Time between an accepted send and its delivery webhook: long enough for the page to
    # show "processing", short enough to stay out of the way.
    delivery_delay: float = 0.05
    # How long a send held by the "timeout" fault waits before answering 504.
    send_hang_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.api not in APIS:
            raise ValueError(f"api must be 'current' or 'legacy', not {self.api!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535 (0 picks a free port), not {self.port}")
        if self.retry_scale < 0:
            raise ValueError("retry_scale must be >= 0 (1 is LoopMessage's real schedule)")
        if self.webhook_timeout <= 0:
            raise ValueError("webhook_timeout must be > 0 seconds")
        if not self.senders or not all(sender.strip() for sender in self.senders):
            raise ValueError("senders must name at least one sender, none of them empty")
        if len(set(self.senders)) != len(self.senders):
            raise ValueError("senders must not repeat a sender")
        if self.api == "legacy" and self.senders != DEFAULT_SENDERS:
            raise ValueError("several senders are the current API's: the legacy API has one "
                             "sender name")  # fmt: skip

    @property
    def sender_id(self) -> str:
        """The first sender: the one a contact writes to unless they pick another."""
        return self.senders[0]

    @property
    def addressable(self) -> tuple[str, ...]:
        """Whom a contact may write to and a send may name: the sender ids (current API),
        or the one sender name (legacy)."""
        return self.senders if self.api == "current" else (self.sender_name,)

    def retry_delays(self) -> tuple[float, ...]:
        """The waits before each retry, scaled."""
        return tuple(delay * self.retry_scale for delay in RETRY_SCHEDULE)

    @property
    def page_host(self) -> str:
        """The host to put in URLs: a wildcard bind address is not something to browse to."""
        if self.host in ("0.0.0.0", "::", ""):  # noqa: S104 - comparing, not binding
            return "127.0.0.1"
        return f"[{self.host}]" if ":" in self.host else self.host


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: the only hosts served over plain http."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
