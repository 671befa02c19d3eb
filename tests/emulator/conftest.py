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


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on a free loopback port; return its runner and its /webhook URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/webhook", receiver.handle)
    runner, receiver.url = await serve(app)
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


def png_bytes(
    width: int = 320, height: int = 200, rgb: tuple[int, int, int] = (255, 159, 10)
) -> bytes:
    """A real PNG of one colour, so a browser can decode and show it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(row * height)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@dataclass
class StandInBot:
    """A tiny bot behind a webhook, answering through the emulated API like the connector.

    It checks the webhook's Authorization, acks at once, shows typing (current API: the
    show-typing call; legacy: the ``{"typing", "read"}`` body of its 200), then replies: a
    question with numbered options, and a picture when the person answers "1".
    """

    emulator: Emulator
    auth: str
    image_url: str = ""
    url: str = ""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def legacy(self) -> bool:
        return self.emulator.config.api == "legacy"

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != self.auth:
            return web.Response(status=401, text="bad webhook auth")
        body = await request.json()
        if (body.get("event") or body.get("alert_type")) != "message_inbound":
            return web.Response(text="")
        task = asyncio.get_running_loop().create_task(self.reply(body))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return web.json_response({"typing": 5, "read": True} if self.legacy else {})

    async def reply(self, body: dict[str, Any]) -> None:
        # Plain httpx rather than the connector's client: the stand-in must not depend on
        # the code under test, and it sends the emulator's loopback http:// upload URLs.
        text = body.get("text", "").strip()
        if text == "1":
            reply = {"text": "Here is a picture 🌅", "attachments": [self.image_url]}
        elif text == "2":
            reply = {"text": "Okay, maybe later."}
        else:
            reply = {"text": "Hello! Do you want to see a picture?\n1. Yes\n2. No"}
        url = self.emulator.url
        async with httpx.AsyncClient(timeout=10) as client:
            if self.legacy:
                group = body.get("group")
                target = {"group": group["group_id"]} if group else {"recipient": body["recipient"]}
                reply["sender_name"] = "bot@imsg.co"
                headers = LEGACY_KEYS
            else:
                target = (
                    {"group": body["group"]["id"]}
                    if body.get("group")
                    else {"contact": body["contact"]}
                )
                headers = CURRENT_KEY
                typing = {"message_id": body["message_id"], "typing": 5, "read": True}
                await client.post(
                    f"{url}/api/v1/message/show-typing/", json=typing, headers=headers
                )
            await client.post(
                f"{url}/api/v1/message/send/", json={**target, **reply}, headers=headers
            )


@pytest.fixture
async def standin_bot(request, make_emulator, http) -> AsyncIterator[StandInBot]:
    """An emulator wired to a stand-in bot: the bot's webhook, auth and an uploaded image.

    Parametrize it indirectly with "legacy" for the legacy API; the default is current.
    """
    bots: list[StandInBot] = []
    app = web.Application()
    app.router.add_post("/webhook", lambda request: bots[0].handle(request))
    runner, hook_url = await serve(app)
    api = getattr(request, "param", "current")
    emulator = await make_emulator(api=api, webhook_url=hook_url, webhook_auth="standin-secret")
    bot = StandInBot(emulator, "standin-secret", url=hook_url)
    bots.append(bot)
    upload = await http.post(
        f"{emulator.url}/emulator/files", files={"file": ("sunset.png", png_bytes(), "image/png")}
    )
    bot.image_url = upload.json()["url"]
    yield bot
    for task in list(bot.tasks):
        task.cancel()
    await runner.cleanup()
