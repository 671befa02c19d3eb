"""The connector in-process, without Rasa: webhooks straight into the channel's handler.

A stand-in agent answers every message the way example_bot answers "hi" (one response of
two paragraphs: two sends), so what runs is exactly the connector's own path: auth, parse,
dedupe claim, turn queue, mapping to a `UserMessage`, output planning, the LoopMessage
client, and the typing/read call. LoopMessage is bench/standin.py in a process of its own
(`url`), so its CPU is not counted; the client's sockets are, as in production.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, Dict, Iterable

from rasa_imessage.channel import IMessageInput
from rasa_imessage.config import load_config
from rasa_imessage.loopmessage import LoopMessageClient, RetryPolicy

__all__ = ["GREETING", "Harness"]

GREETING = {
    "text": "Hi! I'm the **rasa-imessage** example bot 👋\n\n"
    "Try one of these: *mood*, *picture*, *voice*, *celebrate*, *menu* — or send me a photo."
}
AUTH = "bench-in-process"


class _Agent:
    """Answers like example_bot's greeting rule; has no tracker store (no buttons offered)."""

    tracker_store = None

    def is_ready(self) -> bool:
        return True


async def _answer(message: Any) -> None:
    await message.output_channel.send_response(message.sender_id, dict(GREETING))


class Harness:
    """One channel instance with a stand-in agent, sending to the LoopMessage stand-in at `url`."""

    def __init__(self, url: str, **options: Any) -> None:
        settings = {"api_key": "bench", "webhook_auth": AUTH, "base_url": url, **options}
        config = load_config(settings)
        client = LoopMessageClient(config.client_config(), retry=RetryPolicy(0))
        self.channel = IMessageInput(config, client=client)
        # What the blueprint and the server's start set under Rasa.
        self.channel.conversations.handler = _answer
        self.channel._app = SimpleNamespace(ctx=SimpleNamespace(agent=_Agent()))
        self.statuses: Dict[int, int] = {}

    async def post(self, body: bytes) -> int:
        """What the channel's Sanic route does with one webhook, without Sanic."""
        answer = await self.channel._answer_here(AUTH, body)
        self.statuses[answer.status] = self.statuses.get(answer.status, 0) + 1
        return answer.status

    async def run(self, bodies: Iterable[bytes], window: int = 50) -> None:
        """Post webhooks, letting turns run every `window` posts, then wait for all."""
        for index, body in enumerate(bodies, 1):
            await self.post(body)
            if index % window == 0:
                await self.settle()
        await self.settle()

    async def settle(self) -> None:
        await self.channel.turns.join()
        side = list(self.channel.conversations.side_tasks)
        if side:
            await asyncio.gather(*side)

    async def aclose(self) -> None:
        await self.channel.client().aclose()
        await self.channel.store.aclose()
