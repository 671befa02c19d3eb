"""Closed-loop load over loopback: each conversation sends, waits for its replies, sends again.

Both channels get the same work: `conversations` senders, `turns` turns each, fresh sender
ids per run (so tracker length is the same), the same text. An iMessage turn is done when the
stand-in has received the replies of that turn; a REST turn when its POST returns them.
Every loop is bounded in count and in time; only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Dict, List, Optional, Sequence

import aiohttp

from .stack import HEALTH_PATH, WEBHOOK_AUTH, RasaServer, children_cpu, cpu_of, cpu_times_of
from .standin import StandIn

__all__ = ["Driver", "RunResult", "driven", "percentile"]

_numbers = itertools.count(1)
TURN_TIMEOUT = 60.0
# Seconds under a tenth of a core that show Rasa's process idle once a run's replies are in.
SETTLE_QUIET = 0.25
# Status webhooks per second from bench/prober.py during each iMessage run: about 0.3 ms of
# the server's CPU each, a percent of its time at most.
PROBE_RATE = 40


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def new_contact() -> str:
    return f"+1555{next(_numbers):07d}"


def webhook_body(contact: str, text: str) -> bytes:
    """A current-API message_inbound webhook, as LoopMessage posts it."""
    return _webhook("message_inbound", contact, text=text, message_type="text", channel="imessage")


def status_body(contact: str) -> bytes:
    """A current-API message_delivered webhook: claimed and acked like a message, no turn."""
    return _webhook("message_delivered", contact)


def _webhook(event: str, contact: str, **fields: str) -> bytes:
    body = {"event": event, "contact": contact, **fields, "message_id": str(uuid.uuid4()).upper(),
            "webhook_id": str(uuid.uuid4()), "api_version": "1.0"}  # fmt: skip
    return json.dumps(body).encode()


@dataclass
class RunResult:
    """One closed-loop run of one channel, or several pooled (`add`)."""

    channel: str
    conversations: int
    turns: int = 0
    errors: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0  # CPU seconds `rasa run` used during the run
    # Of which in the kernel (system calls, the loopback network they drive), which an
    # instruction count (section 8) does not see; None in runs saved before it was kept.
    server_kernel_cpu: Optional[float] = None
    client_cpu: float = 0.0  # CPU seconds this process (load + stand-in) used
    worker_cpu: float = 0.0  # CPU seconds of `rasa run`'s children (the send worker)
    acks: List[float] = field(default_factory=list)  # iMessage: webhook → 200
    probe_acks: List[float] = field(default_factory=list)  # the same, by bench/prober.py
    latencies: List[float] = field(default_factory=list)  # message → last reply of the turn
    rates: List[float] = field(default_factory=list)  # turns/s of each run pooled by `add`

    @property
    def turns_per_second(self) -> float:
        return self.turns / self.seconds if self.seconds else 0.0

    def add(self, run: RunResult) -> None:
        """Pool another run of the same channel and level: counts add up, samples join."""
        self.turns += run.turns
        self.errors += run.errors
        self.seconds += run.seconds
        self.server_cpu += run.server_cpu
        if run.server_kernel_cpu is not None:
            self.server_kernel_cpu = (self.server_kernel_cpu or 0.0) + run.server_kernel_cpu
        self.client_cpu += run.client_cpu
        self.worker_cpu += run.worker_cpu
        self.acks += run.acks
        self.probe_acks += run.probe_acks
        self.latencies += run.latencies
        self.rates.append(run.turns_per_second)


class Driver:
    """Drives one `rasa run` through both channels; replies to iMessage land in `stand_in`."""

    def __init__(self, server: RasaServer, stand_in: StandIn, session: aiohttp.ClientSession):
        self.server = server
        self.stand_in = stand_in
        self.session = session
        self.per_turn: Dict[str, Dict[str, int]] = {"imessage": {}, "rest": {}}

    async def post_webhook(self, contact: str, text: str) -> float:
        """POST one webhook; seconds until the 200 (raises on any other status)."""
        body = webhook_body(contact, text)
        headers = {"Authorization": WEBHOOK_AUTH, "Content-Type": "application/json"}
        started = time.perf_counter()
        async with self.session.post(self.server.webhook_url, data=body, headers=headers) as r:
            await r.read()
            acked = time.perf_counter() - started
            if r.status != 200:
                raise RuntimeError(f"webhook answered {r.status}")
        return acked

    async def post_rest(self, contact: str, text: str) -> int:
        """One REST round trip; the number of bot messages it returned."""
        payload = {"sender": contact, "message": text}
        async with self.session.post(self.server.rest_url, json=payload) as r:
            replies = await r.json()
            if r.status != 200 or not isinstance(replies, list):
                raise RuntimeError(f"REST answered {r.status}")
        return len(replies)

    async def settled(self, budget: float, quiet: float = SETTLE_QUIET) -> bool:
        """Wait until Rasa's process has finished the turns it was given; False if it has
        not within `budget` seconds (or cannot say: the run's errors tell why).

        The stand-in can have a turn's last reply while Rasa still computes the rest of that
        turn (the tracker's save, when the replies go out inside it), so a count that stops
        at the last reply leaves that rest out (FINDINGS, seventeenth round). First the
        process goes quiet (under a tenth of a core for `quiet` s, read from /proc: nothing
        asked of it), then a health request, for either channel alike, must show no
        iMessage turn pending; while one is, it waits for quiet again.
        """
        deadline = time.perf_counter() + budget
        while time.perf_counter() < deadline:
            before = cpu_of(self.server.pid)
            await asyncio.sleep(quiet)
            if cpu_of(self.server.pid) - before >= quiet / 10:
                continue
            try:
                async with self.session.get(self.server.url + HEALTH_PATH) as r:
                    health = await r.json()
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                return False
            if health.get("turns_pending") == 0:
                return True
        return False

    async def calibrate(self, texts: Sequence[str]) -> None:
        """How many sends (iMessage) and messages (REST) one turn of each text makes."""
        for text in texts:
            self.per_turn["rest"][text] = await self.post_rest(new_contact(), text)
            contact = new_contact()
            await self.post_webhook(contact, text)
            await self.stand_in.wait_for(contact, 1, TURN_TIMEOUT)
            settled, count = time.monotonic() + 1.0, 0
            while time.monotonic() < settled:  # no event says "no more sends will come"
                await asyncio.sleep(0.05)
                if self.stand_in.received(contact) != count:
                    count, settled = self.stand_in.received(contact), time.monotonic() + 1.0
            self.per_turn["imessage"][text] = count

    async def imessage_turn(self, contact: str, text: str, result: RunResult) -> None:
        expected = self.stand_in.received(contact) + self.per_turn["imessage"][text]
        started = time.perf_counter()
        result.acks.append(await self.post_webhook(contact, text))
        replied = await self.stand_in.wait_for(contact, expected, TURN_TIMEOUT)
        result.latencies.append(replied - started)

    async def rest_turn(self, contact: str, text: str, result: RunResult) -> None:
        started = time.perf_counter()
        count = await self.post_rest(contact, text)
        result.latencies.append(time.perf_counter() - started)
        if count != self.per_turn["rest"][text]:
            raise RuntimeError(f"REST returned {count} messages")

    async def closed_loop(
        self,
        channel: str,
        conversations: int,
        turns: int,
        text: str,
        budget: float,
        ramp: float = 1.0,
        pause: float = 0.0,
        probe: bool = True,
    ) -> RunResult:
        """`conversations` senders, `turns` turns each, stopped after `budget` s.

        Senders start spread over `ramp` seconds, as users do; all at the same instant
        would measure one thundering herd instead (see `herd`). `pause`: seconds a sender
        waits after a reply before the next message (0: at once, the server saturated).
        `probe`: an iMessage run also has bench/prober.py post status webhooks at
        PROBE_RATE a second (not for a server slowed down, where they would outnumber turns).
        """
        result = RunResult(channel, conversations)
        turn = self.imessage_turn if channel == "imessage" else self.rest_turn
        deadline = time.perf_counter() + budget

        async def conversation(index: int) -> None:
            await asyncio.sleep(ramp * index / conversations)
            contact = new_contact()
            for _ in range(turns):
                if time.perf_counter() > deadline:
                    return
                try:
                    await turn(contact, text, result)
                except (RuntimeError, aiohttp.ClientError, asyncio.TimeoutError):
                    result.errors += 1
                    return
                result.turns += 1
                if pause:
                    await asyncio.sleep(pause)

        prober = await self._start_prober() if probe and channel == "imessage" else None
        (user, kernel), own = cpu_times_of(self.server.pid), time.process_time()
        kids = children_cpu(self.server.pid)
        started = time.perf_counter()
        await asyncio.gather(*(conversation(i) for i in range(conversations)))
        result.seconds = time.perf_counter() - started
        if prober is not None:
            result.probe_acks = await self._stop_prober(prober)
        # Rasa's CPU is read once it is done with the turns, their ends after the last
        # reply included; a run whose turns all answered and never ended is not a figure.
        if not await self.settled(budget) and not result.errors:
            raise RuntimeError(f"{channel}: turns still pending {budget:.0f} s after the run")
        user_after, kernel_after = cpu_times_of(self.server.pid)
        result.server_cpu = user_after + kernel_after - user - kernel
        result.server_kernel_cpu = kernel_after - kernel
        result.worker_cpu = children_cpu(self.server.pid) - kids
        result.client_cpu = time.process_time() - own
        return result

    async def _start_prober(self) -> asyncio.subprocess.Process:
        """bench/prober.py posting status webhooks at PROBE_RATE while a run lasts."""
        prober = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.prober", self.server.webhook_url, WEBHOOK_AUTH,
            str(PROBE_RATE), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert prober.stdout is not None
        await asyncio.wait_for(prober.stdout.readline(), 30)  # "ready"
        return prober

    @staticmethod
    async def _stop_prober(prober: asyncio.subprocess.Process) -> List[float]:
        assert prober.stdin is not None and prober.stdout is not None
        prober.stdin.close()
        line = await asyncio.wait_for(prober.stdout.readline(), 30)
        await prober.wait()
        acks: List[float] = json.loads(line)
        return acks

    async def herd(self, conversations: int, text: str) -> RunResult:
        """`conversations` webhooks posted at the same instant: the worst case for acks."""
        result = RunResult("imessage", conversations)
        contacts = [new_contact() for _ in range(conversations)]
        started = time.perf_counter()
        outcomes = await asyncio.gather(
            *(self.imessage_turn(contact, text, result) for contact in contacts),
            return_exceptions=True,
        )
        result.seconds = time.perf_counter() - started
        result.errors = sum(isinstance(outcome, BaseException) for outcome in outcomes)
        result.turns = len(outcomes) - result.errors
        return result


@asynccontextmanager
async def driven(
    server: RasaServer,
    stand_in: StandIn,
    texts: Sequence[str],
    *,
    timeout: float = 60.0,
    keepalive: float = 2.0,
) -> AsyncIterator[Driver]:
    """A `Driver` of `server` on a session of its own, calibrated on `texts`.

    `timeout` bounds each request; `keepalive` is how long an idle connection is kept (a
    server slowed under valgrind leaves them idle for seconds between turns).
    """
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=keepalive)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as session:
        driver = Driver(server, stand_in, session)
        await driver.calibrate(texts)
        yield driver
