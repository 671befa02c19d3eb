"""`webhook_port`: LoopMessage's webhooks answered by a process of their own.

Rasa computes each turn in stretches on its event loop, and Sanic answers a webhook only
between two of them: a pipeline or a check of an action's answer that takes 30 ms makes the
ack wait 30 ms. A thread with a loop of its own does not help much: it shares the GIL, and
waits for it at each of its socket calls (BENCHMARKS.md's findings). So `WebhookFront`
starts front_process.py, which decides each answer on a core of its own and sends each
accepted webhook here as a frame before its 200 goes out; `on_turn` queues the turn. The
bot's side reports its state (ready, stopping, turns pending, turns taken from the port)
every half second. A process that dies is started again after a second; LoopMessage
retries what found the port closed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

from .config import IMessageConfig
from .idempotency import Claim, IdempotencyStore, StoreUnavailable
from .loopmessage._child import ChildPipes, start_child, stop_child
from .loopmessage._frames import take_frames

__all__ = ["FrontError", "FrontMedia", "FrontStore", "WebhookFront"]

logger = logging.getLogger(__name__)

_MODULE = "rasa_imessage.front_process"
STATE_INTERVAL = 0.5  # seconds between the bot's state reports
START_TIMEOUT = 30.0  # for the process to listen (it imports aiohttp and pydantic)
STOP_TIMEOUT = 10.0  # for the webhooks in hand to be answered, then for the process to exit
RESTART_DELAY = 1.0
CLAIM_TIMEOUT = 5.0  # a claim of Rasa's port: the process answers in microseconds

OnTurn = Callable[[bytes, Optional[str], Optional[str]], None]  # body, dedupe key, token
OnAnswers = Callable[[Dict[str, int]], None]  # webhooks answered, by outcome (metrics.py)
OnFetches = Callable[[Dict[str, int]], None]  # the bot's files fetched there, by outcome
KeptFiles = Callable[[], Iterable[Tuple[str, bytes, float]]]  # name, body, seconds left
State = Callable[[], Tuple[bool, bool, int]]  # ready, stopping, turns pending


class FrontError(RuntimeError):
    """The webhook port's process could not listen (port taken, or not allowed)."""


class _Pipes(ChildPipes):
    def __init__(self, on_turn: OnTurn, on_answers: OnAnswers, on_fetches: OnFetches) -> None:
        super().__init__()
        loop = asyncio.get_running_loop()
        self._on_turn = on_turn
        self._on_answers = on_answers
        self._on_fetches = on_fetches
        self._buffer = bytearray()
        self.listening: asyncio.Future[Tuple[str, Any]] = loop.create_future()
        self.claims: Dict[int, asyncio.Future[str]] = {}  # claims of Rasa's port in hand
        self.stopped: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self._buffer += data
        for message in take_frames(self._buffer):
            if message[0] == "turn":
                try:
                    self._on_turn(message[1], message[2], message[3])
                except Exception:  # a bug: the frames after this one must still be read
                    logger.exception("iMessage webhook %s from the webhook port lost", message[2])
            elif message[0] in ("listening", "failed") and not self.listening.done():
                self.listening.set_result((message[0], message[1]))
            elif message[0] == "stopped" and not self.stopped.done():
                self.stopped.set_result(None)
            elif message[0] == "claimed":
                waiter = self.claims.pop(message[1], None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(message[2])
            elif message[0] == "answers":
                self._on_answers(message[1])
            elif message[0] == "fetches":
                self._on_fetches(message[1])

    def stdout_closed(self) -> None:
        for waiter in (self.listening, self.stopped):
            if not waiter.done():
                waiter.set_exception(ConnectionError("the webhook port's process exited"))
                waiter.exception()  # retrieved: nobody may be waiting for it any more
        claims, self.claims = self.claims, {}
        for claim in claims.values():
            if not claim.done():
                claim.set_exception(StoreUnavailable("the webhook port's process exited"))


class WebhookFront:
    """The process answering webhooks on `config.webhook_port`, seen from the bot's side."""

    def __init__(
        self,
        config: IMessageConfig,
        on_turn: OnTurn,
        state: State,
        on_answers: OnAnswers = lambda counts: None,
        *,
        on_fetches: OnFetches = lambda counts: None,
        kept_files: KeptFiles = lambda: (),
    ) -> None:
        self.config = config
        self.port: Optional[int] = None
        self._on_turn = on_turn
        self._on_answers = on_answers
        self._on_fetches = on_fetches
        self._kept_files = kept_files
        self._state = state
        self._child: Optional[Tuple[asyncio.SubprocessTransport, _Pipes]] = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._calls = itertools.count(1)
        self._taken = 0  # turns taken from this process (it counts those it handed over)
        self._closing = False

    @property
    def pid(self) -> Optional[int]:
        return self._child[0].get_pid() if self._child is not None else None

    async def start(self) -> int:
        """Listen on the port, or raise `FrontError` saying why not; returns the port."""
        await self._spawn()
        self._run(self._report())
        self._run(self._supervise())
        assert self.port is not None
        return self.port

    async def claim(self, key: str) -> Claim:
        """A claim of Rasa's port, made in the process's store (`FrontStore`)."""
        if self._child is None:
            raise StoreUnavailable("the webhook port's process is not running")
        pipes = self._child[1]
        call = next(self._calls)
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        pipes.claims[call] = waiter
        pipes.send(("claim", call, key))
        try:
            outcome = await asyncio.wait_for(waiter, CLAIM_TIMEOUT)
        except asyncio.TimeoutError:
            pipes.claims.pop(call, None)
            raise StoreUnavailable("the webhook port's process did not answer a claim") from None
        try:
            return Claim(outcome)
        except ValueError:
            raise StoreUnavailable(outcome) from None

    def end(self, key: str, how: str) -> None:
        """A claim in the process's store ends (`complete`, `release` or `abandon`)."""
        if self._child is not None:
            self._child[1].send(("end", key, how))

    def keep(self, name: str, body: bytes, ttl_seconds: float) -> None:
        """A `data:` file the bot made, for the process to serve at its URL (`public_url`
        naming `webhook_port`); a process started later is given it again (`_spawn`)."""
        if self._child is not None:
            self._child[1].send(("keep", name, body, ttl_seconds))

    def report(self) -> None:
        """Send the bot's state now (it goes every half second anyway)."""
        if self._child is not None:
            self._child[1].send(self._state_frame())

    def _state_frame(self) -> Tuple[str, bool, bool, int, int]:
        """With the turns taken so far, the process tells which of its hand-overs are not in
        `pending` yet: still in the pipe. Each turn counts once against `max_queued_turns`."""
        return ("state", *self._state(), self._taken)

    def _turn(self, body: bytes, key: Optional[str], token: Optional[str]) -> None:
        self._taken += 1
        self._on_turn(body, key, token)

    async def close_port(self) -> None:
        """Stop taking webhooks; returns once every webhook it acked has reached `on_turn`."""
        self._closing = True
        if self._child is None:
            return
        pipes = self._child[1]
        pipes.send(("stop",))
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(pipes.stopped), STOP_TIMEOUT)

    async def aclose(self) -> None:
        """End the process (after `close_port`, and after the turns' claims have ended)."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        child, self._child = self._child, None
        if child is None:
            return
        if not await stop_child(*child, STOP_TIMEOUT):
            logger.warning(
                "iMessage webhook port process did not stop in %.0f s; killed", STOP_TIMEOUT
            )

    # -- the process --------------------------------------------------------------------------

    async def _spawn(self) -> None:
        try:
            transport, pipes = await start_child(
                lambda: _Pipes(self._turn, self._on_answers, self._on_fetches), _MODULE
            )
        except OSError as exc:
            raise FrontError(f"webhook_port: cannot start its process: {exc}") from exc
        level = logging.getLogger("rasa_imessage").getEffectiveLevel()
        # The settings, secrets included, go in a frame: never on a command line `ps` shows.
        pipes.send((self.config, level))
        self._taken = 0  # a new process has handed nothing over yet
        pipes.send(self._state_frame())
        try:
            outcome, detail = await asyncio.wait_for(asyncio.shield(pipes.listening), START_TIMEOUT)
        except (ConnectionError, asyncio.TimeoutError) as exc:
            transport.kill()
            transport.close()
            raise FrontError(f"webhook_port: its process did not start ({exc})") from exc
        if outcome == "failed":
            await stop_child(transport, pipes, STOP_TIMEOUT)
            host, port = self.config.webhook_host, self.config.webhook_port
            raise FrontError(f"webhook_port: cannot listen on {host}:{port}: {detail}")
        self.port = int(detail)
        self._child = (transport, pipes)
        # The files made so far, in the same step as `_child` is set: each later one goes by
        # `keep`, none falls between (after a restart the process serves them all again).
        for name, body, seconds_left in self._kept_files():
            pipes.send(("keep", name, body, seconds_left))

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(STATE_INTERVAL)
            self.report()

    async def _supervise(self) -> None:
        """Start the process again when it dies; the port is closed until then."""
        while not self._closing:
            child = self._child
            if child is not None:
                await asyncio.shield(child[1].gone)
                if self._closing:
                    return
                logger.error(
                    "iMessage webhook port process %s exited (code %s); starting another",
                    child[0].get_pid(),
                    child[0].get_returncode(),
                )
                child[0].close()
                self._child = None
            await asyncio.sleep(RESTART_DELAY)
            if self._closing:
                return
            try:
                await self._spawn()
            except FrontError as exc:
                logger.error("iMessage: %s", exc)

    def _run(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class FrontStore(IdempotencyStore):
    """`dedupe_store: memory` with `webhook_port`: the port's process keeps the one list of
    handled webhooks, and Rasa's port claims and ends its turns there too, so a webhook
    retried at the other port is still recognised. While the process restarts, claims
    fail as a Redis outage does: 503, and LoopMessage retries."""

    def __init__(self, front: Callable[[], Optional[WebhookFront]]) -> None:
        self._front = front

    async def claim(self, key: str, body: Optional[str] = None) -> Claim:
        front = self._front()
        if front is None:
            raise StoreUnavailable("the webhook port's process is not running")
        return await front.claim(key)

    async def complete(self, key: str) -> None:
        self._end(key, "complete")

    async def release(self, key: str) -> None:
        self._end(key, "release")

    async def abandon(self, key: str) -> None:
        self._end(key, "abandon")

    def _end(self, key: str, how: str) -> None:
        front = self._front()
        if front is not None:
            front.end(key, how)


class FrontMedia:
    """`SharedMedia` for `webhook_port` on one server: each `data:` file the bot makes goes
    to the port's process before its send, so a `public_url` naming that port serves it.
    (With Redis the process reads the replicas' store instead.)"""

    def __init__(self, front: Callable[[], Optional[WebhookFront]]) -> None:
        self._front = front

    async def put(self, name: str, body: bytes, ttl_seconds: float) -> None:
        front = self._front()
        if front is not None:  # not running: a restarted process is given it (kept_files)
            front.keep(name, body, ttl_seconds)

    async def get(self, name: str) -> Optional[bytes]:
        return None  # the bot's process kept it itself

    async def aclose(self) -> None:
        return None
