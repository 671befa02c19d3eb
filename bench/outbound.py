"""Section 4: sends per second from the LoopMessage client to the stand-in.

The stand-in runs in its own process, so the figures are the client's alone. Variants:
the connector's own pooled client (as `IMessageInput.client()` builds it: its own kept-alive
connections), the same client on aiohttp's session (what it uses through a proxy), the send worker
(`send_worker: true`: only the bot's process is counted, not the child), the same client
on a session that keeps no connection alive (a TCP connect per send), a new client per send
(what a naive connector does), and two references that are not the connector: a bare
aiohttp session posting the same body (the floor under the connector's client) and a
pooled httpx client doing the same (the connector's transport before it moved to aiohttp).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable, Dict, List, Tuple

import aiohttp
import httpx

from rasa_imessage.channel import IMessageInput
from rasa_imessage.config import load_config
from rasa_imessage.loopmessage import (
    LoopMessageAPI,
    LoopMessageClient,
    SendRequest,
    WorkerClient,
    to_current_body,
)
from rasa_imessage.loopmessage._aiohttp_transport import pooled_session

__all__ = ["OutboundResult", "outbound"]

SendOnce = Callable[[], Awaitable[None]]


@dataclass
class OutboundResult:
    variant: str
    concurrency: int
    sends: int
    seconds: float
    cpu: float  # CPU seconds of this process

    @property
    def per_second(self) -> float:
        return self.sends / self.seconds if self.seconds else 0.0


@asynccontextmanager
async def standin_process() -> AsyncIterator[str]:
    """`python -m bench.standin` on a free port; yields its URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.standin", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        yield line.decode().strip()
    finally:
        process.terminate()
        await process.wait()


async def _drive(send: SendOnce, count: int, concurrency: int, budget: float) -> Tuple[int, float]:
    deadline = time.perf_counter() + budget
    done = 0

    async def worker(share: int) -> None:
        nonlocal done
        for _ in range(share):
            if time.perf_counter() > deadline:
                return
            await send()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(count // concurrency) for _ in range(concurrency)))
    return done, time.perf_counter() - started


async def outbound(
    count: int, budget: float, progress: Callable[[str], None]
) -> List[OutboundResult]:
    """Every variant at concurrency 1 and 16, `count` sends each, `budget` s at most."""
    results = []
    async with standin_process() as url:
        config = load_config({"api_key": "bench", "webhook_auth": "bench", "base_url": url})
        request = SendRequest.create(contact="+15550000001", text="Hi! I'm the example bot 👋")
        body = json.dumps(to_current_body(request, sender=None)).encode()
        pooled = IMessageInput(config).client()
        through_aiohttp_session = pooled_session(config.client_config())
        through_aiohttp = LoopMessageClient(config.client_config(), through_aiohttp_session)
        fresh_session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        fresh = LoopMessageClient(config.client_config(), fresh_session)
        worker = WorkerClient(config.client_config())
        session = aiohttp.ClientSession()
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        httpx_client = httpx.AsyncClient(limits=limits)
        headers = {"Authorization": "bench", "Content-Type": "application/json"}

        async def via(client: LoopMessageAPI) -> None:
            await client.send_message(request)

        async def new_client() -> None:
            async with LoopMessageClient(config.client_config()) as client:
                await client.send_message(request)

        async def bare() -> None:
            async with session.post(url + "/api/v1/message/send/", data=body, headers=headers) as r:
                await r.read()

        async def bare_httpx() -> None:
            answer = await httpx_client.post(
                url + "/api/v1/message/send/", content=body, headers=headers
            )
            answer.json()

        variants: Dict[str, SendOnce] = {
            "connector client (pooled)": lambda: via(pooled),
            "connector client on aiohttp's session (through a proxy)": lambda: via(through_aiohttp),
            "send worker (`send_worker: true`; this process only)": lambda: via(worker),
            "connection per send": lambda: via(fresh),
            "new client per send": new_client,
            "bare aiohttp session (reference)": bare,
            "bare httpx client, pooled (reference: the former transport)": bare_httpx,
        }
        try:
            for name, send in variants.items():
                for concurrency in (1, 16):
                    await _drive(send, 20, 1, budget)  # warm-up: connections, imports
                    cpu = time.process_time()
                    sends, seconds = await _drive(send, count, concurrency, budget)
                    result = OutboundResult(
                        name, concurrency, sends, seconds, time.process_time() - cpu
                    )
                    progress(f"  {name} x{concurrency}: {result.per_second:.0f} sends/s")
                    results.append(result)
        finally:
            await pooled.aclose()
            await through_aiohttp.aclose()
            await through_aiohttp_session.close()
            await worker.aclose()
            await fresh.aclose()
            await fresh_session.close()
            await session.close()
            await httpx_client.aclose()
    return results
