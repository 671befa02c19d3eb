"""A child process that talks in frames over its stdin and stdout: both ends of its life.

The send worker (`_worker`) and the webhook port (`rasa_imessage.front`) each start one.
The parent's side runs `python -m <module>` with this checkout importable, in a session of
its own, so that the Ctrl-C or SIGTERM meant for the bot does not reach it first. The child's
side ignores both anyway: the parent decides when it stops, by closing its stdin.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any, Callable, Optional, Tuple, TypeVar

from ._frames import frame

__all__ = ["ChildPipes", "run_child", "start_child", "stop_child"]

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ChildPipes(asyncio.SubprocessProtocol):
    """The parent's end of the pipes: frames to the child's stdin; `gone` once its stdout has
    closed (no frame comes any more), `exited` once the process has ended."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport: Optional[asyncio.SubprocessTransport] = None
        self.stdin: Optional[asyncio.WriteTransport] = None
        self.gone: asyncio.Future[None] = loop.create_future()
        self.exited: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.stdin = transport.get_pipe_transport(0)  # type: ignore[attr-defined]

    def send(self, message: Any) -> None:
        if self.stdin is not None and not self.stdin.is_closing():
            self.stdin.write(frame(message))

    def pipe_connection_lost(self, fd: int, exc: Optional[Exception]) -> None:
        if fd != 1:
            return
        self.stdout_closed()
        if not self.gone.done():
            self.gone.set_result(None)

    def stdout_closed(self) -> None:
        """No answer can come any more: fail what waits for one."""

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


P = TypeVar("P", bound=ChildPipes)


async def start_child(make_pipes: Callable[[], P], module: str) -> Tuple[Any, P]:
    """`python -m module` with pipes to its stdin and stdout; its stderr is the parent's."""
    loop = asyncio.get_running_loop()
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, path]))}
    transport, pipes = await loop.subprocess_exec(
        make_pipes,
        sys.executable,
        "-m",
        module,
        stdin=-1,
        stdout=-1,
        stderr=None,
        env=env,
        start_new_session=True,
    )
    return transport, pipes


def run_child(make_side: Callable[[asyncio.WriteTransport], Any]) -> None:
    """The child's whole life: frames in on stdin, frames out on stdout, until stdin closes.

    `make_side(stdout)` makes the protocol reading stdin; its `finish()` returns once stdin
    has closed and its work is done."""
    try:
        import uvloop  # the bot's loop when Rasa runs it; faster for many small frames

        uvloop.install()
    except ImportError:  # pragma: no cover - the standard loop works as well
        pass
    asyncio.run(_main(make_side))


async def _main(make_side: Callable[[asyncio.WriteTransport], Any]) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    loop = asyncio.get_running_loop()
    frames_out = os.dup(1)
    os.dup2(2, 1)  # whatever else prints to stdout lands on stderr, not in the frames
    sys.stdout = sys.stderr
    out, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(frames_out, "wb", 0))
    side = make_side(out)  # type: ignore[arg-type]
    await loop.connect_read_pipe(lambda: side, sys.stdin.buffer)
    await side.finish()
    out.close()


async def stop_child(transport: Any, pipes: ChildPipes, timeout: float) -> bool:
    """Close its stdin (it finishes what it has in hand, then exits) and wait; after
    `timeout`, kill it. False when it had to be killed."""
    if pipes.stdin is not None:
        pipes.stdin.close()
    await asyncio.wait({pipes.gone, pipes.exited}, timeout=timeout)
    stopped = pipes.exited.done()
    if not stopped:
        transport.kill()
        await asyncio.wait({pipes.exited}, timeout=timeout)
    transport.close()
    return stopped
