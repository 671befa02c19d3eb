"""Fixtures for the emulator tests: an emulator factory and a recording webhook receiver."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web

from rasa_imessage.emulator import Emulator, EmulatorConfig

CURRENT_KEY = {"Authorization": "emulator-key"}
LEGACY_KEYS = {"Authorization": "emulator-auth", "Loop-Secret-Key": "emulator-secret"}


@dataclass
class Hook:
    """One webhook as the receiver saw it."""

    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """A stand-in for the bot's webhook endpoint on loopback, recording every request.

    ``replies`` is consumed one per request (status, body); when empty it answers 200.
    ``hang`` makes the next requests wait for an answer until the test ends (timeouts).
    """

    replies: list[tuple[int, Any]] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    queue: asyncio.Queue[Hook] = field(default_factory=asyncio.Queue)
    url: str = ""
    hang: int = 0  # how many of the next requests get no answer until the test ends
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        hook = Hook(dict(request.headers), await request.json())
        self.hooks.append(hook)
        self.queue.put_nowait(hook)
        if self.hang > 0:
            self.hang -= 1
            await self.released.wait()
        status, body = self.replies.pop(0) if self.replies else (200, "")
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(status=status, text=text, content_type="application/json")

    async def next(self, event: str | None = None, timeout: float = 10.0) -> Hook:
        """The next webhook (of ``event``, skipping others)."""

        async def find() -> Hook:
            while True:
                hook = await self.queue.get()
                name = hook.body.get("event") or hook.body.get("alert_type")
                if event is None or name == event:
                    return hook

        return await asyncio.wait_for(find(), timeout)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/webhook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"
    yield receiver
    receiver.released.set()
    await runner.cleanup()


EmulatorFactory = Callable[..., Awaitable[Emulator]]


@pytest.fixture
async def make_emulator() -> AsyncIterator[EmulatorFactory]:
    started: list[Emulator] = []

    async def make(**options: Any) -> Emulator:
        emulator = Emulator(EmulatorConfig(**options))
        await emulator.start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        await emulator.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


class Dev:
    """Drives the people's side through the emulator's dev API."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def say(
        self, emulator: Emulator, contact: str, text: str = "", **more: Any
    ) -> dict[str, Any]:
        """A person writes to the bot; returns the created message."""
        response = await self.http.post(
            f"{emulator.url}/emulator/messages", json={"contact": contact, "text": text, **more}
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def faults(self, emulator: Emulator, **switches: Any) -> httpx.Response:
        return await self.http.post(f"{emulator.url}/emulator/faults", json=switches)

    async def group(self, emulator: Emulator, name: str, *participants: str) -> dict[str, Any]:
        response = await self.http.post(
            f"{emulator.url}/emulator/groups",
            json={"name": name, "participants": list(participants)},
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def dev(http: httpx.AsyncClient) -> Dev:
    return Dev(http)
