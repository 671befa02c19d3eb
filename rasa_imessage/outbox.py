"""Each conversation's replies sent in order by a task of their own while Rasa's turn goes on.

Rasa awaits each `send_response` in the middle of its turn: a turn that answers is suspended
until LoopMessage answers, then resumed through Rasa's whole stack of coroutines, once per
response, with its tracker held meanwhile. With an outbox, `send_response` plans the reply,
queues its sends here and returns, so Rasa's turn runs through without suspending, as a REST
turn does: 0.04-0.14 ms less of Rasa's core per turn at 200 conversations of 6 turns, and
0.27-0.40 ms at 20 of 30 (BENCHMARKS.md, sixteenth round). The sends go out in order on the
conversation's sender task while Rasa computes the rest of the turn. The turn's job waits for
them before its webhook's claim ends and before the conversation's next turn starts
(conversations.py).

Every output channel of a conversation queues here, reminders' and `trigger_intent`'s too, so
their bubbles never overtake a turn's. That order holds within one process. Across replicas
only Rasa's lock keeps a conversation's turns apart, and Rasa releases it when its turn ends,
before an outbox has sent the turn's replies: with a shared store (`dedupe_store: redis`) the
channel sends inside Rasa's turn instead (conversations.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Awaitable, Callable, Coroutine, Deque, Dict, List

from .lending import detach_from_turn
from .loopmessage import mask_contact

__all__ = ["Outbox", "Send"]

logger = logging.getLogger(__name__)

Send = Callable[[], Awaitable[None]]  # one response's sends; it reports its own failures
Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Future[None]"]


class Outbox:
    """Per conversation, a queue of responses to send and the one task that sends them."""

    def __init__(self, spawn: Spawn) -> None:
        self._spawn = spawn  # starts a sender as a side task: stepped, cancelled at shutdown
        self._queues: Dict[str, Deque[Send]] = {}
        self._senders: Dict[str, asyncio.Future[None]] = {}

    def put(self, conversation: str, send: Send) -> None:
        """Queue `send` behind the conversation's earlier responses; it starts at once if
        none is waiting."""
        queue = self._queues.get(conversation)
        if queue is not None:
            queue.append(send)
            return
        self._queues[conversation] = queue = deque([send])
        sender = self._spawn(self._send_queued(conversation, queue))
        self._senders[conversation] = sender
        # A sender cancelled before its first step never runs its `finally`.
        sender.add_done_callback(lambda _: self._forget(conversation, queue))

    async def sent(self, conversation: str) -> None:
        """Wait until what the conversation has queued so far is sent or has failed.

        Cancelling the caller leaves the sends running: shutdown ends them (`wait_all`).
        """
        sender = self._senders.get(conversation)
        if sender is not None:
            await asyncio.wait({sender})

    async def wait_all(self, timeout: float) -> int:
        """Shutdown: let queued replies go out for up to `timeout` seconds; how many
        conversations still had replies waiting."""
        senders = list(self._senders.values())
        if not senders:
            return 0
        _, left = await asyncio.wait(senders, timeout=timeout)
        if left:
            logger.warning("shutdown: replies to %d conversation(s) not sent in %.1f s",
                           len(left), timeout)  # fmt: skip
        return len(left)

    @property
    def conversations(self) -> List[str]:
        """Conversations with replies queued or on their way."""
        return list(self._queues)

    async def _send_queued(self, conversation: str, queue: Deque[Send]) -> None:
        detach_from_turn()  # started inside a turn: its waits must not lend the turn's place
        try:
            while queue:
                try:
                    await queue[0]()
                except Exception:  # a bug: the conversation's later replies must still go
                    logger.exception("iMessage reply to %s not sent", mask_contact(conversation))
                queue.popleft()
        finally:
            # Here, not in a done callback: a response queued between the last send and the
            # callback would join a queue nobody sends any more.
            self._forget(conversation, queue)

    def _forget(self, conversation: str, queue: Deque[Send]) -> None:
        if self._queues.get(conversation) is not queue:
            return
        del self._queues[conversation]
        del self._senders[conversation]
        if queue:
            logger.error(
                "iMessage: %d response(s) to %s not sent: cancelled at shutdown",
                len(queue),
                mask_contact(conversation),
            )
