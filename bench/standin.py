"""A minimal LoopMessage stand-in on loopback: records sends and answers 200 at once.

The emulator is faithful (opt-in rules, message lifecycle, webhooks back), which costs CPU
in the very process that measures; a benchmark wants the opposite: a server so cheap it
never limits the figures. This one knows the two endpoints the connector calls on every
turn (send and show-typing), counts sends per recipient, and lets the load generator await
"the Nth reply to this contact" without polling.

Run it alone (`python -m bench.standin`) for the outbound benchmark, so the client under
test has the benchmark process to itself; it prints its URL on the first line.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import uuid
from collections import defaultdict
from typing import Any, DefaultDict, Dict, List, Optional, Tuple

from aiohttp import web

__all__ = ["StandIn"]

SEND_PATH = "/api/v1/message/send/"
TYPING_PATH = "/api/v1/message/show-typing/"


class StandIn:
    """The stand-in server; one per event loop."""

    def __init__(self) -> None:
        self.sends = 0
        self.typing = 0
        self.latency = 0.0  # seconds before each answer: LoopMessage's round trip, if wanted
        self.arrivals: DefaultDict[str, List[float]] = defaultdict(list)
        self.texts: DefaultDict[str, List[str]] = defaultdict(list)
        self._waiters: DefaultDict[str, List[Tuple[int, asyncio.Future[float]]]] = defaultdict(list)
        self._runner: Optional[web.AppRunner] = None
        self.url = ""

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_post(SEND_PATH, self._send)
        app.router.add_post(TYPING_PATH, self._typing)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        server = site._server  # aiohttp exposes the bound port nowhere else
        assert server is not None
        bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{bound}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _send(self, request: web.Request) -> web.Response:
        body: Dict[str, Any] = json.loads(await request.read())
        if self.latency:
            await asyncio.sleep(self.latency)
        recipient = str(body.get("contact") or body.get("recipient") or body.get("group"))
        now = time.perf_counter()
        self.sends += 1
        arrivals = self.arrivals[recipient]
        arrivals.append(now)
        self.texts[recipient].append(str(body.get("text") or ""))
        waiters = self._waiters.get(recipient)
        if waiters:
            still = []
            for count, future in waiters:
                if len(arrivals) >= count:
                    if not future.done():
                        future.set_result(now)
                else:
                    still.append((count, future))
            self._waiters[recipient] = still
        answer = {"success": True, "message_id": uuid.uuid4().hex, "contact": recipient}
        return web.json_response(answer)

    async def _typing(self, request: web.Request) -> web.Response:
        await request.read()
        if self.latency:
            await asyncio.sleep(self.latency)
        self.typing += 1
        return web.json_response({"success": True})

    def received(self, recipient: str) -> int:
        return len(self.arrivals.get(recipient, ()))

    async def wait_for(self, recipient: str, count: int, timeout: float) -> float:
        """perf_counter time at which `recipient` had received `count` sends in all."""
        arrivals = self.arrivals.get(recipient, [])
        if len(arrivals) >= count:
            return arrivals[count - 1]
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters[recipient].append((count, future))
        return await asyncio.wait_for(future, timeout)


async def _serve(port: int) -> None:
    stand_in = StandIn()
    url = await stand_in.start(port)
    print(url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    print(f"sends={stand_in.sends} typing={stand_in.typing}", file=sys.stderr, flush=True)
    await stand_in.stop()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
