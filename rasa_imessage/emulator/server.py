"""The emulator's lifecycle: build the app, listen, stop cleanly; in a loop or in a thread.

``await Emulator(config).start()`` inside a running loop returns the URL (port 0 picks a
free port and the real one is reported); ``EmulatorThread`` runs the same object on its own
loop for synchronous callers. Stopping releases everything a request may be waiting on
(held "timeout" sends, SSE streams, webhook retries) before the listener closes, so a stop
takes milliseconds rather than a graceful-shutdown timeout.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import TracebackType
from typing import Any, Callable

import aiohttp
from aiohttp import web

from .api import LoopMessageRoutes
from .background import Background
from .config import EmulatorConfig
from .context import Context
from .devapi import DevRoutes
from .events import EventBus
from .faults import Faults
from .lifecycle import Lifecycle
from .page import MAX_UPLOAD_BYTES, PageRoutes
from .store import Store
from .webhooks import WebhookDispatcher

logger = logging.getLogger(__name__)


class Emulator:
    """One LoopMessage emulator with its chat page."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.bus = EventBus()
        self.store = Store(self.bus)
        self.faults = Faults()
        self.faults.on_change = lambda: self.bus.publish("faults", self.faults.to_json())
        self._background = Background()
        self.dispatcher = WebhookDispatcher(self.config, self.store, self.faults, self._background)
        self.lifecycle = Lifecycle(
            self.config, self.store, self.faults, self.dispatcher, self._background
        )
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """The base URL of the API and of the chat page."""
        if self.port is None:
            raise RuntimeError("the emulator is not running; await start() first")
        return f"http://{self.config.page_host}:{self.port}"

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        context = Context(
            self.config, self.store, self.faults, self.bus, self.lifecycle, self._stopping
        )
        api, dev = LoopMessageRoutes(context, lambda: self.url), DevRoutes(context)
        page = PageRoutes(context, lambda: self.url)
        app.add_routes([*api.routes(), *dev.routes(), *page.routes()])
        return app

    async def start(self) -> str:
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        await self.dispatcher.open()
        runner = web.AppRunner(
            self.build_app(), handle_signals=False, access_log=None, **_cancel_on_disconnect()
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port)
            await site.start()
        except OSError:
            await runner.cleanup()
            await self.dispatcher.close()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        logger.info("LoopMessage emulator (%s API) listening on %s", self.config.api, self.url)
        return self.url

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._stopping.set()
        self.bus.close()
        await self._background.cancel_all()
        await self.dispatcher.close()
        await self._runner.cleanup()
        self._runner = None
        logger.info("LoopMessage emulator stopped")

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def _cancel_on_disconnect() -> dict[str, Any]:
    """Cancel a handler whose client went away (aiohttp 3.9+ made this opt-in).

    A send held by the "timeout" fault and an SSE stream then end with their client,
    instead of lingering until the emulator stops.
    """
    major, minor = (int(part) for part in aiohttp.__version__.split(".")[:2])
    return {"handler_cancellation": True} if (major, minor) >= (3, 9) else {}


class EmulatorThread:
    """An Emulator on its own event loop in a daemon thread, for synchronous code and tests."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.emulator = Emulator(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.emulator.start())
            except BaseException as exc:  # handed to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.emulator.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="loopmessage-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.emulator.url

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Emulator:
        self.start()
        return self.emulator

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


async def wait_for_stop_signal() -> int:
    """Wait for SIGINT or SIGTERM and return its number; the old handlers come back after.

    Signal handlers can only be installed by the main thread; elsewhere this waits forever
    (until cancelled), so the same code also runs inside a test's thread.
    """
    loop = asyncio.get_running_loop()
    received: asyncio.Future[int] = loop.create_future()
    installed = []
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, _resolve, received, int(signum))
            installed.append(signum)
    try:
        return await received
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _resolve(future: asyncio.Future[int], value: int) -> None:
    if not future.done():
        future.set_result(value)


async def serve(config: EmulatorConfig, on_ready: Callable[[str], None]) -> None:
    """Run an emulator until SIGINT or SIGTERM: the ``rasa-imessage emulator`` command."""
    async with Emulator(config) as emulator:
        on_ready(emulator.url)
        await wait_for_stop_signal()
