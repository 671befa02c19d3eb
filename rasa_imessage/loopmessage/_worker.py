"""LoopMessage calls made by a process of their own, so they cost the bot's core nothing.

Rasa computes every turn on one event loop, on one core. Each LoopMessage request costs
that core the HTTP work of aiohttp plus the client's own (BENCHMARKS.md, section 4), and a
turn makes up to three. `WorkerClient` hands each call to a child process that runs a
`LoopMessageClient`, and gets the result or the error back: the bot's core only writes one
small frame and reads one per call. Retries, backoff and timeouts all happen in the child.

- The child starts on the first call, and stops when its stdin closes: at `aclose()`, or
  when the bot's process dies, so it never outlives the bot. It ignores SIGINT and SIGTERM,
  which a terminal or a service manager sends to the whole group while the bot still drains
  its turns: their replies still go out.
- If the child dies, the calls it had in hand fail with `APIConnectionError`, as calls on
  a dropped connection do; none is sent again, so none is sent twice. The next call starts
  a new child. While calls are in hand the bot's side pings the child; one that has answered
  since it started and then leaves a ping unanswered for `STUCK_AFTER` seconds (a stopped
  or wedged process) is killed, which fails its calls the same way, and the next call
  starts a new one. A child still starting is left to its calls' deadlines. A call that a live
  child never answers fails with `APITimeoutError` once the longest it could take has
  passed; a child that cannot start, with `APIConnectionError`. The channel turns all of
  these into the delivery-failed intent.
- Calls and answers cross the child's stdin and stdout as frames (`_frames`); the child's
  side is `_worker_process`. The configuration goes in the first frame, never on the
  command line or in the environment, where `ps` would show the keys.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import asdict
from typing import Any, Dict, Optional, Sequence, Tuple

from ._child import ChildPipes, start_child, stop_child
from ._config import ClientConfig
from ._errors import APIConnectionError, APITimeoutError, LoopMessageError
from ._frames import take_frames, unpack_error
from ._in_order import SentInOrder
from ._models import MessageStatus, SendResult
from ._retry import RetryPolicy
from ._send import SendRequest

__all__ = ["WorkerClient"]

_log = logging.getLogger(__name__)
_MODULE = "rasa_imessage.loopmessage._worker_process"  # the child's side
_RETRY_FIELDS = ("max_retries", "first_delay", "max_delay", "retry_after_cap")
# How long `aclose()` lets the child finish the calls it has in hand.
CLOSE_TIMEOUT = 10.0
# Beyond the longest a call can take in the child (every attempt timing out, every backoff),
# how long the bot's side waits for its answer before it fails the call.
DEADLINE_MARGIN = 5.0
# A child that leaves a ping unanswered this long while calls are in hand (checked every
# quarter of it) is taken for stuck and killed. Its loop answers a ping at once, even while
# its calls wait on LoopMessage, so only a stopped or wedged process stays silent; without
# this its calls would hang until their deadline (about 200 s with the defaults), and every
# later call too.
STUCK_AFTER = 10.0
_PING = ("ping",)


def _deadline(config: ClientConfig, retry: RetryPolicy) -> float:
    """The longest a call can take in the child, plus DEADLINE_MARGIN."""
    attempt = 2 * config.timeout + config.connect_timeout  # pool wait, connect, read
    pause = max(retry.max_delay, retry.retry_after_cap)
    return attempt * (retry.max_retries + 1) + pause * retry.max_retries + DEADLINE_MARGIN


class _Pipes(ChildPipes):
    """Reads the child's answers and settles the calls waiting for them."""

    def __init__(self, stuck_after: float) -> None:
        super().__init__()
        self.pending: Dict[int, asyncio.Future[Any]] = {}
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._stuck_after = stuck_after
        self._pinged: Optional[float] = None  # when the ping still unanswered was sent
        # Whether the child has said anything yet. Until then it is starting (an interpreter
        # and its imports, slow on a loaded machine), not wedged: its calls' deadlines bound
        # that wait, and silence is judged only afterwards.
        self._heard = False
        self._due = 0.0  # when the armed check should run
        self._check: Optional[asyncio.TimerHandle] = None

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self._pinged = None  # anything from the child shows its loop runs
        self._heard = True
        self._buffer += data
        for outcome, call_id, value in take_frames(self._buffer):
            if outcome == "alive":
                continue
            waiter = self.pending.pop(call_id, None)
            if waiter is None or waiter.done():
                continue  # cancelled meanwhile
            if outcome == "ok":
                waiter.set_result(value)
            else:
                waiter.set_exception(unpack_error(value))

    def watch(self) -> None:
        """Check on the child while calls are in hand (called with each new call)."""
        if self._check is None and not self.gone.done():
            self._pinged = None  # a ping left unanswered while idle says nothing
            self._arm()

    def _arm(self) -> None:
        self._due = self._loop.time() + self._stuck_after / 4
        self._check = self._loop.call_at(self._due, self._check_on)

    def _check_on(self) -> None:
        self._check = None
        if not self.pending or self.gone.done():
            return  # idle again; the next call starts the watch afresh
        if self.stdin is None or self.stdin.is_closing():
            return  # closing: no more pings get through, and `aclose` times the drain
        now = self._loop.time()
        # A check that runs late (this loop was blocked) cannot judge: the child's answer may
        # be waiting unread in the pipe. It asks again instead.
        on_time = now - self._due < self._stuck_after / 8
        pinged = self._pinged
        if pinged is not None and now - pinged >= self._stuck_after and on_time and self._heard:
            if self.transport is not None:
                _log.error(
                    "LoopMessage send worker process %s: no answer for %.0f s with %d call(s) "
                    "in hand; stopping it (they fail; the next call starts another)",
                    self.transport.get_pid(),
                    now - pinged,
                    len(self.pending),
                )
                self.transport.kill()  # its pipes close: `stdout_closed` fails the calls
            return
        if pinged is None or not on_time:
            self._pinged = now
            self.send(_PING)
        self._arm()

    def withdraw(self, call_id: int) -> Optional[asyncio.Future[Any]]:
        """Stop waiting for a call, and have the child cancel it if it still runs."""
        waiter = self.pending.pop(call_id, None)
        if waiter is not None:
            self.send(("cancel", call_id))
        return waiter

    def expire(self, call_id: int, method: str, seconds: float) -> None:
        """A call the child has not answered in the longest it could take: it fails."""
        waiter = self.withdraw(call_id)
        if waiter is None or waiter.done():
            return
        waiter.set_exception(
            APITimeoutError(
                f"LoopMessage {method}: {seconds:.0f} s without an answer from the send worker "
                "process; it may or may not have reached LoopMessage"
            )
        )

    def stdout_closed(self) -> None:
        if self._check is not None:
            self._check.cancel()
            self._check = None
        pending, self.pending = self.pending, {}
        for waiter in pending.values():
            if not waiter.done():
                waiter.set_exception(
                    APIConnectionError(
                        "LoopMessage: the send worker process stopped with this call in hand; "
                        "it may or may not have reached LoopMessage"
                    )
                )


class WorkerClient:
    """The calls of a `LoopMessageClient` (`send_message`, `send_messages`, `show_typing`,
    `get_status`), made by one in a child."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        retry: Optional[RetryPolicy] = None,
        stuck_after: float = STUCK_AFTER,
    ) -> None:
        if not stuck_after > 0:
            raise ValueError("stuck_after must be a positive number of seconds")
        self.config = config
        self.retry = retry if retry is not None else RetryPolicy()
        self._stuck_after = stuck_after
        self._deadline = _deadline(config, self.retry)
        self._ids = itertools.count(1)
        self._child: Optional[Tuple[asyncio.SubprocessTransport, _Pipes]] = None
        self._starting: Optional[asyncio.Future[Tuple[asyncio.SubprocessTransport, _Pipes]]] = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self._child else "not started"
        return f"WorkerClient(api={self.config.api!r}, {state})"

    @property
    def pid(self) -> Optional[int]:
        """The child's process id while it runs (for operators and tests)."""
        return self._child[0].get_pid() if self._child is not None else None

    async def send_message(self, req: SendRequest) -> SendResult:
        result: SendResult = await self._call("send_message", req)
        return result

    async def send_messages(self, reqs: Sequence[SendRequest]) -> SentInOrder:
        """All in one frame and one answer; the child sends each once the one before is
        accepted, and a failure stops the rest (it is in the outcome, not raised)."""
        if not reqs:
            return SentInOrder(())
        try:
            sent: SentInOrder = await self._call_for(len(reqs), "send_messages", list(reqs))
        except LoopMessageError as exc:  # the child died, or never answered: none is known sent
            return SentInOrder((), exc)
        return sent

    async def show_typing(
        self,
        *,
        message_id: Optional[str] = None,
        contact: Optional[str] = None,
        seconds: int = 5,
        read: bool = True,
    ) -> None:
        await self._call(
            "show_typing", message_id=message_id, contact=contact, seconds=seconds, read=read
        )

    async def get_status(self, message_id: str) -> MessageStatus:
        status: MessageStatus = await self._call("get_status", message_id)
        return status

    async def start(self) -> None:
        """Start the child now rather than on the first call (which then waits for it)."""
        await self._running()

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await self._call_for(1, method, *args, **kwargs)

    async def _call_for(self, requests: int, method: str, *args: Any, **kwargs: Any) -> Any:
        """A call that makes `requests` requests one after another: it may take that many
        times as long as one before it fails for want of an answer."""
        _, pipes = await self._running()
        call_id = next(self._ids)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        pipes.pending[call_id] = waiter
        pipes.send(("call", call_id, method, args, kwargs))
        pipes.watch()
        deadline = self._deadline * requests
        expiry = loop.call_later(deadline, pipes.expire, call_id, method, deadline)
        try:
            return await waiter
        except asyncio.CancelledError:
            pipes.withdraw(call_id)
            raise
        finally:
            expiry.cancel()

    async def _running(self) -> Tuple[asyncio.SubprocessTransport, _Pipes]:
        if self._closed:
            raise RuntimeError("this WorkerClient is closed; create a new one")
        child = self._child
        if child is not None and not child[1].gone.done():
            return child
        if child is not None:  # it died: say so once, and let the next one start
            self._child = None
            _log.warning(
                "LoopMessage send worker process %s exited (code %s); starting another",
                child[0].get_pid(),
                child[0].get_returncode(),
            )
            child[0].close()
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._spawn())
        try:
            self._child = await asyncio.shield(self._starting)
        finally:
            if self._starting is not None and self._starting.done():
                self._starting = None
        return self._child

    async def _spawn(self) -> Tuple[asyncio.SubprocessTransport, _Pipes]:
        try:
            return await self._exec()
        except OSError as exc:  # the output channel turns LoopMessage errors into intents
            raise APIConnectionError(
                f"LoopMessage: could not start the send worker process ({exc.strerror or exc}); "
                "set send_worker: false to make the calls in the bot's process"
            ) from exc

    async def _exec(self) -> Tuple[asyncio.SubprocessTransport, _Pipes]:
        transport, pipes = await start_child(lambda: _Pipes(self._stuck_after), _MODULE)
        retry = {name: getattr(self.retry, name) for name in _RETRY_FIELDS}
        level = logging.getLogger("rasa_imessage").getEffectiveLevel()
        pipes.send((asdict(self.config), retry, level))
        _log.debug("LoopMessage send worker started (pid %s)", transport.get_pid())
        return transport, pipes

    async def aclose(self) -> None:
        """Let the child finish the calls it has in hand, then stop it."""
        if self._closed:
            return
        self._closed = True
        if self._starting is not None:
            try:
                self._child = await asyncio.shield(self._starting)
            except APIConnectionError:  # it never started: nothing to stop
                return
        if self._child is None:
            return
        transport, pipes = self._child
        self._child = None
        if not await stop_child(transport, pipes, CLOSE_TIMEOUT):
            _log.warning("LoopMessage send worker did not stop in %.0f s; killed", CLOSE_TIMEOUT)
