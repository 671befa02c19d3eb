"""An ack prober in a process of its own: what LoopMessage would see of the server's acks.

The load generator measures the acks of the webhooks it posts, but it also plays
LoopMessage's API and wakes 200 conversations; under full load its own event loop is late,
and that lateness lands in its figures. This process does nothing else: it posts a
`message_delivered` status webhook every `1 / rate` seconds (the server claims and acks it
like a message, but starts no turn, so the probe adds no load that the throughput would
show) and prints the ack times as JSON when its stdin closes.

    python -m bench.prober URL AUTHORIZATION RATE
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import List

import aiohttp

from bench.load import status_body

PROBE_CONTACT = "+15559990000"  # apart from the load generator's `new_contact()` numbers


async def _probe(url: str, auth: str, rate: float, acks: List[float]) -> None:
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        next_at = time.perf_counter()
        while True:
            body = status_body(PROBE_CONTACT)
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as answer:
                await answer.read()
                if answer.status == 200:
                    acks.append(time.perf_counter() - started)
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))


async def _main(url: str, auth: str, rate: float) -> None:
    acks: List[float] = []
    probing = asyncio.ensure_future(_probe(url, auth, rate, acks))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("ready", flush=True)
    await reader.read()  # until the load generator closes our stdin
    probing.cancel()
    await asyncio.gather(probing, return_exceptions=True)
    print(json.dumps(acks), flush=True)


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
