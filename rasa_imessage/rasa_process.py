"""`rasa train` and `rasa run` as child processes, for the demo and the benchmark.

Each runs in the bot's folder with this checkout importable and nothing fetched from the
internet, in a session of its own: a Ctrl-C in the terminal reaches the parent alone, which
then stops Rasa in order. Its output goes to a log file, whose end a failure quotes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from pathlib import Path
from typing import Protocol, Sequence, TextIO

import aiohttp

__all__ = [
    "PACKAGE_ROOT",
    "STARTUP_TIMEOUT",
    "RasaProcessError",
    "RasaProject",
    "free_port",
    "log_file",
    "rasa_environment",
    "start_rasa",
    "stop_process",
    "tail",
    "train_bot",
    "wait_healthy",
]

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# Loading TensorFlow and the model takes 20-40 s on a small machine; training more.
STARTUP_TIMEOUT = 240.0
TRAIN_TIMEOUT = 900.0
STOP_TIMEOUT = 20.0
_HEALTH_INTERVAL = 0.5
_LOG_TAIL_LINES = 25


class RasaProcessError(RuntimeError):
    """`rasa train`, `rasa run` or another child failed or did not answer; the message ends
    with its log."""


class RasaProject(Protocol):
    """Which bot, and how Rasa is started (the demo's options are one)."""

    @property
    def bot_dir(self) -> Path: ...

    @property
    def rasa_command(self) -> tuple[str, ...]: ...

    # Folders Rasa imports from before everything else.
    @property
    def first_on_path(self) -> tuple[Path, ...]: ...


def free_port() -> int:
    """A port that was free a moment ago; ``rasa run`` cannot report the one it bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rasa_environment(first_on_path: Sequence[Path] = ()) -> dict[str, str]:
    """Rasa's environment: `first_on_path`, then this checkout importable; nothing fetched
    from the internet."""
    env = dict(os.environ)
    folders = [*map(str, first_on_path), str(PACKAGE_ROOT), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, folders))
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # Rasa Pro would fetch it online
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    return env


async def rasa(project: RasaProject, log: TextIO, *args: str) -> asyncio.subprocess.Process:
    """Start ``rasa ARGS`` in the bot directory with its output in ``log``.

    Its own session, so a Ctrl-C in the terminal reaches the parent alone, which then stops
    Rasa in order rather than leaving it half shut down.
    """
    return await asyncio.create_subprocess_exec(
        *project.rasa_command,
        *args,
        cwd=project.bot_dir,
        env=rasa_environment(project.first_on_path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )


async def train_bot(project: RasaProject, log: TextIO) -> None:
    """``rasa train`` in the bot directory; Rasa itself skips it when nothing changed."""
    process = await rasa(project, log, "train")
    try:
        code = await asyncio.wait_for(process.wait(), TRAIN_TIMEOUT)
    finally:
        await stop_process(process)
    if code != 0:
        raise RasaProcessError(f"rasa train failed (exit {code}):\n{tail(Path(log.name))}")


async def start_rasa(
    project: RasaProject, credentials: Path, port: int, log: TextIO
) -> asyncio.subprocess.Process:
    return await rasa(
        project, log, "run", "--model", "models", "--credentials", str(credentials),
        "--port", str(port), "--interface", "127.0.0.1",
    )  # fmt: skip


async def wait_healthy(
    url: str,
    process: asyncio.subprocess.Process,
    log_path: Path,
    timeout: float,
    name: str = "rasa run",
) -> None:
    """Poll a health route of the child `name` until it answers 200, or fail on exit or
    timeout.

    Polling, because a child process offers no readiness event; it also fails fast when
    the process dies, with the end of its log.
    """
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RasaProcessError(
                    f"{name} exited with {process.returncode}:\n{tail(log_path)}"
                )
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(process.wait(), _HEALTH_INTERVAL)
    raise RasaProcessError(f"{name} did not answer {url} within {timeout:.0f} s:\n{tail(log_path)}")


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (Sanic stops gracefully), then SIGKILL if it has not exited in time."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()


def log_file(path: Path) -> TextIO:
    """A child process's log: a small local file, opened once, so blocking is harmless."""
    return open(path, "w", encoding="utf-8")


def tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])
