"""The send worker's child process: `python -m rasa_imessage.loopmessage._worker_process`.

`_worker.WorkerClient` starts it and talks to it over its stdin and stdout (`_frames`). It
runs one `LoopMessageClient` and answers each call as a task of its own, so the calls run
side by side, and each ping at once, to show that its loop still runs. It stops when its
stdin closes, after the calls in hand have finished, and it ignores SIGINT and SIGTERM
(see `_child`). The package never imports this module, so `-m` runs it exactly once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from typing import Any, Dict, Optional

from ._child import run_child
from ._client import LoopMessageClient
from ._config import ClientConfig
from ._errors import LoopMessageError
from ._frames import frame, pack_error, take_frames
from ._retry import RetryPolicy

__all__ = ["run_worker"]

_log = logging.getLogger(__name__)
_ALIVE = frame(("alive", 0, None))  # the answer to a ping


class _Serve(asyncio.Protocol):
    """Reads calls from stdin and runs each as a task of the child's `LoopMessageClient`."""

    def __init__(self, out: asyncio.WriteTransport) -> None:
        self._out = out
        self._buffer = bytearray()
        self._client: Optional[LoopMessageClient] = None
        self._tasks: Dict[int, asyncio.Task[None]] = {}
        self.ended = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        for message in take_frames(self._buffer):
            if self._client is None:
                self._client = _client_from(*message)
                continue
            if message[0] == "ping":  # the bot's side checks that this loop still runs
                self._out.write(_ALIVE)
                continue
            if message[0] == "cancel":
                task = self._tasks.get(message[1])
                if task is not None:
                    task.cancel()
                continue
            _, call_id, method, args, kwargs = message
            task = asyncio.ensure_future(self._run(call_id, method, args, kwargs))
            self._tasks[call_id] = task
            # Here, not in `_run`: a call cancelled in the same read as it came (a turn
            # cancelled at once) never starts, and so never runs its own `finally`.
            task.add_done_callback(functools.partial(self._forget, call_id))

    def _forget(self, call_id: int, _: object) -> None:
        self._tasks.pop(call_id, None)

    async def _run(self, call_id: int, method: str, args: Any, kwargs: Any) -> None:
        assert self._client is not None
        try:
            answer = ("ok", call_id, await getattr(self._client, method)(*args, **kwargs))
        except asyncio.CancelledError:
            return  # the caller stopped waiting; it expects no answer
        except LoopMessageError as exc:
            answer = ("error", call_id, pack_error(exc))
        except Exception as exc:  # a bug: the bot's side gets the same exception type
            _log.exception("LoopMessage send worker: %s failed", method)
            answer = ("error", call_id, pack_error(exc))
        try:
            data = frame(answer)
        except Exception as exc:  # an answer that cannot cross: the call must still end
            data = frame(("error", call_id, pack_error(RuntimeError(f"unpicklable: {exc}"))))
        self._out.write(data)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if not self.ended.done():
            self.ended.set_result(None)

    async def finish(self) -> None:
        """Stdin closed: finish the calls in hand, then close the client."""
        await self.ended
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))
        if self._client is not None:
            await self._client.aclose()


def _client_from(config: Dict[str, Any], retry: Dict[str, Any], level: int) -> LoopMessageClient:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s (send worker) %(message)s"
    )
    return LoopMessageClient(ClientConfig(**config), retry=RetryPolicy(**retry))


def run_worker() -> None:
    """The child's whole life: serve calls until stdin closes."""
    run_child(_Serve)


if __name__ == "__main__":
    run_worker()
