"""HTTP/1.1 to LoopMessage on kept-alive connections of the client's own.

Why not aiohttp's ClientSession for every request: on uvloop one request through it costs
about 110 µs of CPU, 150 µs through the client, against about 30 µs on a bare protocol
(one-off, 3000 sends 16 at a time). A turn makes up to three requests in Rasa's process;
moving them here took the example bot from 3.34-3.38 to 2.78-2.87 ms of Rasa's CPU per turn
(BENCHMARKS.md, eleventh round). The client keeps aiohttp where this does not go: through
a proxy, and on a session that its caller passes in.

A pool of connections (_connection.py) to one base URL: idle ones are reused last in,
first out and closed `KEEPALIVE` seconds after their last answer; at most
`max_connections` are open. TLS is the event loop's. The answer timeout is a timer handle,
not a task. Each failure leaves as a LoopMessageError, with the same words as the client's
aiohttp path (`timed_out`, `unreachable`, `unusable`).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import List, Mapping, Optional
from urllib.parse import urlsplit

from ._config import ClientConfig
from ._connection import PARSER_ERRORS, Answer, AnswerTooLarge, Connection, UndecodableBody
from ._errors import APIConnectionError, APITimeoutError, PayloadError

__all__ = ["Answer", "KeptAliveTransport", "timed_out", "unreachable", "unusable"]

# Seconds an idle connection is kept for reuse (aiohttp's default too).
KEEPALIVE = 15.0


def timed_out(endpoint: str, exc: BaseException) -> APITimeoutError:
    return APITimeoutError(
        f"LoopMessage {endpoint}: no answer in time ({type(exc).__name__}); retry later"
    )


def unreachable(endpoint: str, exc: BaseException) -> APIConnectionError:
    return APIConnectionError(
        f"LoopMessage {endpoint}: could not reach LoopMessage ({type(exc).__name__}); "
        "check the network and base_url"
    )


def unusable(endpoint: str, exc: BaseException) -> PayloadError:
    return PayloadError(f"LoopMessage {endpoint}: unusable answer ({type(exc).__name__})")


class KeptAliveTransport:
    """Requests to one LoopMessage base URL with fixed headers, on a pool of connections.

    `config` was checked when it was made (ClientConfig): its URL has a host and a valid
    port, and its secrets, which `headers` carry, no line break.
    """

    def __init__(self, config: ClientConfig, headers: Mapping[str, str]) -> None:
        parts = urlsplit(config.effective_base_url)
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        lines = [f"Host: {parts.netloc.rpartition('@')[2]}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._fixed = ("\r\n".join(lines) + "\r\n").encode()
        self._timeout = config.timeout
        self._connect_timeout = config.connect_timeout
        self._max_connections = config.max_connections
        self._slots: Optional[asyncio.Semaphore] = None  # made in the loop that uses it
        self._idle: List[Connection] = []
        self._pruning: Optional[asyncio.TimerHandle] = None  # closes idle connections
        self._closed = False

    async def request(
        self, method: str, path: str, content: Optional[bytes], endpoint: str
    ) -> Answer:
        """One exchange; raises APIConnectionError, APITimeoutError or PayloadError."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_connections)
        slots = self._slots
        if slots.locked():  # every connection busy: wait for one as long as for an answer
            try:
                await asyncio.wait_for(slots.acquire(), self._timeout)
            except asyncio.TimeoutError as exc:
                raise timed_out(endpoint, exc) from exc
        else:
            await slots.acquire()
        try:
            loop = asyncio.get_running_loop()
            connection = self._reused(loop.time()) or await self._connect(endpoint)
            head = f"{method} {self._prefix}{path} HTTP/1.1\r\n"
            if content is not None:
                head += f"Content-Length: {len(content)}\r\n"
            request = head.encode() + self._fixed + b"\r\n" + (content or b"")
            return await self._exchange(connection, request, endpoint, loop)
        finally:
            slots.release()

    async def aclose(self) -> None:
        """Close the idle connections; later requests raise RuntimeError."""
        self._closed = True
        if self._pruning is not None:
            self._pruning.cancel()
            self._pruning = None
        while self._idle:
            self._idle.pop().close()

    def _prune(self) -> None:
        """Close the connections idle for KEEPALIVE seconds; again later while any are left."""
        self._pruning = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        kept = []
        for connection in self._idle:  # oldest first: each returns to the end
            if connection.closed or now - connection.idle_since >= KEEPALIVE:
                connection.close()
            else:
                kept.append(connection)
        self._idle = kept
        if kept:
            self._pruning = loop.call_at(kept[0].idle_since + KEEPALIVE, self._prune)

    def _reused(self, now: float) -> Optional[Connection]:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and now - connection.idle_since < KEEPALIVE:
                return connection
            connection.close()
        return None

    async def _connect(self, endpoint: str) -> Connection:
        if self._closed:
            raise RuntimeError("this transport is closed")
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(Connection, self._host, self._port, ssl=self._ssl),
                self._connect_timeout,
            )
        except asyncio.TimeoutError as exc:
            raise timed_out(endpoint, exc) from exc
        except OSError as exc:  # refused, unresolvable, TLS refused (ssl.SSLError)
            raise unreachable(endpoint, exc) from exc
        return connection

    async def _exchange(
        self,
        connection: Connection,
        request: bytes,
        endpoint: str,
        loop: asyncio.AbstractEventLoop,
    ) -> Answer:
        answer = connection.exchange(request)
        timer = loop.call_later(self._timeout, _expire, answer)
        try:
            result = await answer
        except BaseException as exc:  # also a cancelled turn: the answer may still come
            connection.abort()
            if isinstance(exc, asyncio.TimeoutError):
                raise timed_out(endpoint, exc) from exc
            if isinstance(exc, (*PARSER_ERRORS, AnswerTooLarge)):
                raise unusable(endpoint, exc) from exc
            if isinstance(exc, (OSError, UndecodableBody)):
                raise unreachable(endpoint, exc) from exc
            raise
        finally:
            timer.cancel()
        if connection.reusable and not connection.closed and not self._closed:
            connection.idle_since = loop.time()
            self._idle.append(connection)
            if self._pruning is None:
                self._pruning = loop.call_later(KEEPALIVE, self._prune)
        else:
            connection.close()
        return result


def _expire(answer: asyncio.Future[Answer]) -> None:
    if not answer.done():
        answer.set_exception(asyncio.TimeoutError())
