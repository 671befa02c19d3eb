"""What the channel asks of a LoopMessage client, whichever process makes the calls."""

from __future__ import annotations

from typing import Optional, Protocol, Sequence

from ._in_order import SentInOrder
from ._models import MessageStatus, SendResult
from ._send import SendRequest

__all__ = ["LoopMessageAPI"]


class LoopMessageAPI(Protocol):
    """`LoopMessageClient` (calls from this process) or `WorkerClient` (from a child)."""

    async def send_message(self, req: SendRequest) -> SendResult: ...

    async def send_messages(self, reqs: Sequence[SendRequest]) -> SentInOrder: ...

    async def show_typing(
        self,
        *,
        message_id: Optional[str] = None,
        contact: Optional[str] = None,
        seconds: int = 5,
        read: bool = True,
    ) -> None: ...

    async def get_status(self, message_id: str) -> MessageStatus: ...

    async def aclose(self) -> None: ...
