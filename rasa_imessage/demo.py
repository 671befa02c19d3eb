"""The one-command demo: the example bot on the emulator, chatting in a browser.

``demo_stack`` is the library: it trains the bot (``rasa train`` skips itself when nothing
changed), starts the emulator, writes a temporary credentials.yml whose
``rasa_imessage.IMessageInput`` block points ``base_url`` at the emulator and shares a random
``webhook_auth`` with it, starts ``rasa run`` on a free port, and waits until both answer.
With ``webhook_port`` the emulator posts its webhooks to the connector's own webhook port
instead of Rasa's, so that option can be tried as LoopMessage would use it.
``run_demo`` wraps it for the CLI: progress lines, the page URL, Ctrl-C to stop. Tests use
``demo_stack`` directly.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, TextIO, TypeVar

from rasa_imessage.config import ConfigError, parse_option
from rasa_imessage.emulator import DEFAULT_SENDERS, Emulator, EmulatorConfig, wait_for_stop_signal
from rasa_imessage.emulator.config import Api
from rasa_imessage.rasa_process import (
    PACKAGE_ROOT,
    STARTUP_TIMEOUT,
    RasaProcessError,
    free_port,
    log_file,
    start_rasa,
    stop_process,
    train_bot,
    wait_healthy,
)

WEBHOOK_PATH = "/webhooks/imessage/webhook"
HEALTH_PATH = "/webhooks/imessage/"
METRICS_PATH = "/webhooks/imessage/metrics"

T = TypeVar("T")
Progress = Callable[[str], None]


class DemoError(RasaProcessError):
    """The demo could not start: the message says which step failed and what to do.

    Rasa's own failures (training, start-up) arrive as the RasaProcessError they are."""


def default_bot_dir() -> Path:
    """``example_bot`` of a source checkout, else of the current directory."""
    for candidate in (PACKAGE_ROOT / "example_bot", Path.cwd() / "example_bot"):
        if (candidate / "domain.yml").exists():
            return candidate
    return Path.cwd()


@dataclass(frozen=True)
class DemoOptions:
    """What to run and where; ports 0 mean "pick a free one"."""

    bot_dir: Path = field(default_factory=default_bot_dir)
    emulator_port: int = 0
    rasa_port: int = 0
    api: Api = "current"
    train: bool = True
    rasa_command: tuple[str, ...] = (sys.executable, "-m", "rasa")
    # Folders Rasa imports from before everything else (the benchmark's other jsonschema).
    first_on_path: tuple[Path, ...] = ()
    startup_timeout: float = STARTUP_TIMEOUT
    # The emulator's retries are compressed so a developer sees them within seconds.
    retry_scale: float = 0.01
    # The connector's `webhook_port` (0: a free one); None leaves webhooks on Rasa's port.
    webhook_port: int | None = None
    # The connector's `merge_window`: 0 leaves every bubble a turn of its own.
    merge_window: float = 0.0
    # The connector's `merge_mode`, which bubbles wait for the next.
    merge_mode: str = "lead_ins"
    # The connector's `bubble_pause`: 0 sends each bubble once the one before is accepted.
    bubble_pause: float = 0.0
    # The emulated organization's sender ids (current API).
    senders: tuple[str, ...] = DEFAULT_SENDERS


@dataclass
class DemoStack:
    """The running pair."""

    emulator: Emulator
    process: asyncio.subprocess.Process
    rasa_url: str
    log_path: Path
    webhook_url: str  # where the emulator posts webhooks: Rasa's port or `webhook_port`

    @property
    def page_url(self) -> str:
        return self.emulator.url + "/"

    @property
    def metrics_url(self) -> str:
        return self.rasa_url + METRICS_PATH


def credentials_yaml(
    api: Api, emulator_url: str, webhook_auth: str, extra: Mapping[str, Any] | None = None
) -> str:
    """The credentials.yml that wires the connector to the emulator (JSON strings are YAML);
    `extra` settings join the channel's block."""
    config = EmulatorConfig(api=api)
    if api == "current":
        keys = {"api": api, "api_key": config.api_keys[0]}
    else:
        keys = {
            "api": api,
            "authorization_key": config.authorization_key,
            "secret_key": config.secret_key,
            "sender_name": config.sender_name,
        }
    keys.update(base_url=emulator_url, webhook_auth=webhook_auth, **(extra or {}))
    lines = [f"  {key}: {json.dumps(value)}" for key, value in keys.items()]
    return "rasa_imessage.IMessageInput:\n" + "\n".join(lines) + "\nrest:\n"


def hosting(rasa_url: str, bot_dir: Path) -> dict[str, str]:
    """Settings that let the bot send the files in its `media` folder: served by `rasa run`
    itself (public_url), which the emulator's page loads them from."""
    media = bot_dir / "media"
    return {"public_url": rasa_url, "media_dir": str(media.resolve())} if media.is_dir() else {}


async def with_progress(label: str, work: Awaitable[T], progress: Progress) -> T:
    """Await ``work`` while reporting elapsed time; end with "✓ label (N s)"."""
    started = time.monotonic()
    task = asyncio.ensure_future(work)
    progress(f"… {label}")
    while True:
        done, _ = await asyncio.wait({task}, timeout=10.0)
        if done:
            break
        progress(f"  {label}: {time.monotonic() - started:.0f} s")
    result = task.result()
    progress(f"✓ {label} ({time.monotonic() - started:.1f} s)")
    return result


@asynccontextmanager
async def demo_stack(
    options: DemoOptions, progress: Progress = lambda line: None
) -> AsyncIterator[DemoStack]:
    """Train, start the emulator and ``rasa run`` wired together; stop both on exit."""
    if not (options.bot_dir / "domain.yml").exists():
        raise DemoError(f"{options.bot_dir} is not a Rasa project (no domain.yml); use --bot-dir")
    if options.webhook_port is not None and not 0 <= options.webhook_port <= 65535:
        raise DemoError(f"--webhook-port {options.webhook_port} is not a port (0-65535)")
    try:  # before training: the emulator's own checks of its senders
        EmulatorConfig(api=options.api, senders=options.senders)
    except ValueError as exc:
        raise DemoError(f"--sender: {exc}") from exc
    for flag, name, value in (
        ("--merge-window", "merge_window", options.merge_window),
        ("--merge-mode", "merge_mode", options.merge_mode),
        ("--bubble-pause", "bubble_pause", options.bubble_pause),
    ):
        try:
            parse_option(name, value)
        except ConfigError as exc:
            raise DemoError(f"{flag}: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="rasa-imessage-demo-") as workdir:
        folder = Path(workdir)
        if options.train:
            with log_file(folder / "train.log") as log:
                await with_progress(
                    f"Training {options.bot_dir.name} (skipped by Rasa when nothing changed)",
                    train_bot(options, log),
                    progress,
                )
        webhook_auth = secrets.token_urlsafe(24)
        rasa_port = options.rasa_port or free_port()
        rasa_url = f"http://127.0.0.1:{rasa_port}"
        # The example bot answers well within the default `typing_delay`, so without this
        # the chat page would never show the typing indicator it is there to show.
        # `metrics`: `rasa run` listens on 127.0.0.1 only, so the counters stay on this machine.
        extra: dict[str, Any] = {"typing_delay": 0, "metrics": True}
        extra.update(hosting(rasa_url, options.bot_dir))
        if options.merge_window:
            extra.update(merge_window=options.merge_window, merge_mode=options.merge_mode)
        if options.bubble_pause:
            extra.update(bubble_pause=options.bubble_pause)
        webhook_base = rasa_url
        if options.webhook_port is not None:
            own_port = options.webhook_port or free_port()
            extra.update(webhook_port=own_port, webhook_host="127.0.0.1")
            webhook_base = f"http://127.0.0.1:{own_port}"
        emulator = Emulator(
            EmulatorConfig(
                port=options.emulator_port,
                api=options.api,
                webhook_url=webhook_base + WEBHOOK_PATH,
                webhook_auth=webhook_auth,
                retry_scale=options.retry_scale,
                senders=options.senders,
            )
        )
        try:
            await emulator.start()
        except OSError as exc:
            raise DemoError(
                f"the emulator cannot listen on port {options.emulator_port}: "
                f"{exc.strerror}; pick another with --port"
            ) from exc
        try:
            credentials = folder / "credentials.yml"
            credentials.write_text(
                credentials_yaml(options.api, emulator.url, webhook_auth, extra), encoding="utf-8"
            )
            log_path = folder / "rasa.log"
            with log_file(log_path) as log:
                process = await start_rasa(options, credentials, rasa_port, log)
            try:
                await with_progress(
                    f"Starting rasa run on {rasa_url}",
                    wait_healthy(
                        rasa_url + HEALTH_PATH, process, log_path, options.startup_timeout
                    ),
                    progress,
                )
                if options.webhook_port is not None:  # its process starts with the server
                    await wait_healthy(
                        webhook_base + HEALTH_PATH, process, log_path, options.startup_timeout
                    )
                yield DemoStack(emulator, process, rasa_url, log_path, webhook_base + WEBHOOK_PATH)
            finally:
                await stop_process(process)
        finally:
            await emulator.stop()


def run_demo(options: DemoOptions, out: TextIO | None = None) -> None:
    """The ``rasa-imessage demo`` command: run until Ctrl-C or SIGTERM, printing progress."""
    stream = out or sys.stdout

    def progress(line: str) -> None:
        print(line, file=stream, flush=True)

    async def run() -> None:
        async with demo_stack(options, progress) as stack:
            progress("")
            progress(f"  Chat with the bot:  {stack.page_url}")
            progress(f"  Rasa:               {stack.rasa_url}  (log: {stack.log_path})")
            progress(f"  Metrics:            {stack.metrics_url}")
            if options.webhook_port is not None:
                progress(f"  Webhooks:           {stack.webhook_url}  (webhook_port)")
            if len(options.senders) > 1:
                progress(f"  Senders:            {', '.join(options.senders)}  (pick one under "
                         "the chat page's message field)")  # fmt: skip
            progress("  Press Ctrl-C to stop.")
            await wait_for_stop_signal()
            progress("Stopping…")

    asyncio.run(run())
