"""`rasa run` of example_bot with both channels, the connector aimed at the stand-in.

One server, one model: the credentials written by `rasa_imessage.demo.credentials_yaml`
enable `rest:` beside the iMessage block, so both channels are measured on the very same
Rasa process, tracker store and lock store. The bot is trained in a temporary copy, so a
developer's checkout is left untouched.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import AsyncIterator, Callable, Mapping, Optional, Tuple

from rasa_imessage import rasa_process
from rasa_imessage.demo import DemoOptions, credentials_yaml, hosting

from .slow_action import ACTION_NAME, SECONDS_VARIABLE

__all__ = [
    "SLOW_TEXT",
    "RasaServer",
    "action_server",
    "cpu_of",
    "cpu_times_of",
    "package_folder",
    "rasa_server",
    "rss_of",
]

BOT_DIR = rasa_process.PACKAGE_ROOT / "example_bot"
WEBHOOK_PATH = "/webhooks/imessage/webhook"
REST_PATH = "/webhooks/rest/webhook"
HEALTH_PATH = "/webhooks/imessage/"
WEBHOOK_AUTH = "bench-webhook-auth"  # loopback only, for a throwaway server
SLOW_TEXT = "slow"  # the text (and intent) the bot answers with its custom action
ACTION_SERVER_TIMEOUT = 60.0


@dataclass
class RasaServer:
    """A running `rasa run`; the URLs of its two channels."""

    url: str
    pid: int
    log_path: Path
    train_seconds: float
    start_seconds: float
    webhook_base: Optional[str] = None  # `webhook_port`: where the webhooks go instead

    @property
    def webhook_url(self) -> str:
        return (self.webhook_base or self.url) + WEBHOOK_PATH

    @property
    def rest_url(self) -> str:
        return self.url + REST_PATH


def rss_of(pid: int) -> int:
    """Resident set size of a process in bytes (Linux /proc; 0 where there is none)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc; 0 elsewhere)."""
    return sum(cpu_times_of(pid))


def cpu_times_of(pid: int) -> Tuple[float, float]:
    """CPU seconds a process has spent so far in its own code and in the kernel (system
    calls, the loopback network they drive); (0, 0) where /proc has none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def children_cpu(pid: int) -> float:
    """CPU seconds the running children of a process have used (the send worker, the
    webhook port)."""
    total = 0.0
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@asynccontextmanager
async def action_server(seconds: float) -> AsyncIterator[str]:
    """Rasa's action server (rasa_sdk) on loopback serving bench/slow_action.py; its URL.

    `seconds`: how long `action_slow` waits before it answers.
    """
    port = rasa_process.free_port()
    env = {**os.environ, "SANIC_HOST": "127.0.0.1", SECONDS_VARIABLE: str(seconds)}
    with tempfile.TemporaryDirectory(prefix="rasa-imessage-bench-actions-") as workdir:
        log_path = Path(workdir) / "actions.log"
        with rasa_process.log_file(log_path) as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "rasa_sdk", "--actions", "bench.slow_action",
                "--port", str(port), cwd=rasa_process.PACKAGE_ROOT, env=env, stdout=log, stderr=log,
            )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            await rasa_process.wait_healthy(
                url + "/health", process, log_path, ACTION_SERVER_TIMEOUT,
                "the action server (rasa_sdk)",
            )  # fmt: skip
            yield url + "/webhook"
        finally:
            await rasa_process.stop_process(process)


async def package_folder(requirement: str, folder: Path) -> Path:
    """`requirement` alone (no dependencies) installed into `folder`, once; the folder."""
    if not (folder / "installed").exists():
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
            str(folder), requirement,
        )  # fmt: skip
        if await process.wait() != 0:
            raise RuntimeError(f"pip could not install {requirement} into {folder}")
        (folder / "installed").write_text(requirement, encoding="utf-8")
    return folder


def _add_custom_action(bot: Path, action_url: str) -> None:
    """The intent `slow`, answered by `action_slow` on the action server at `action_url`."""
    domain = bot / "domain.yml"
    text = domain.read_text(encoding="utf-8")
    if "\nactions:" in text or "\nintents:\n" not in text:
        raise RuntimeError(f"{domain}: expected `intents:` and no `actions:` to extend")
    text = text.replace("\nintents:\n", f"\nintents:\n  - {SLOW_TEXT}\n", 1)
    domain.write_text(text + f"\nactions:\n  - {ACTION_NAME}\n", encoding="utf-8")
    (bot / "data" / "custom_action.yml").write_text(
        f'version: "3.1"\nnlu:\n  - intent: {SLOW_TEXT}\n    examples: |\n      - {SLOW_TEXT}\n'
        f"rules:\n  - rule: {SLOW_TEXT}\n"
        f"    steps: [{{intent: {SLOW_TEXT}}}, {{action: {ACTION_NAME}}}]\n",
        encoding="utf-8",
    )
    with open(bot / "endpoints.yml", "a", encoding="utf-8") as endpoints:
        endpoints.write(f'\naction_endpoint:\n  url: "{action_url}"\n')


@asynccontextmanager
async def rasa_server(
    standin_url: str,
    connector_options: Mapping[str, object] = {},  # read only
    progress: Callable[[str], None] = print,
    action_url: Optional[str] = None,
    first_on_path: Optional[Path] = None,
    own_webhook_port: bool = False,
    run_prefix: Tuple[str, ...] = (),
    startup_timeout: Optional[float] = None,
) -> AsyncIterator[RasaServer]:
    """Train example_bot in a temporary copy, start `rasa run`, stop it on exit.

    `connector_options` are further keys of the iMessage credentials block (JSON values).
    `action_url`: an action server (`action_server`); the bot then also answers the text
    `slow` with its custom action. `first_on_path`: a folder whose packages Rasa imports
    before the installed ones (another version of one of them). `own_webhook_port`: the
    connector answers webhooks on a port of its own (`webhook_port`), where they are posted.
    `run_prefix`: a command `rasa run` (not the training) runs under, such as valgrind, with
    `startup_timeout` for it to answer.
    """
    with tempfile.TemporaryDirectory(prefix="rasa-imessage-bench-") as workdir:
        folder = Path(workdir)
        bot = folder / "bot"
        shutil.copytree(BOT_DIR, bot, ignore=shutil.ignore_patterns("models", ".rasa"))
        if action_url is not None:
            _add_custom_action(bot, action_url)
        options = DemoOptions(bot_dir=bot, first_on_path=(first_on_path,) if first_on_path else ())
        run_options = replace(
            options,
            rasa_command=run_prefix + options.rasa_command,
            startup_timeout=startup_timeout or options.startup_timeout,
        )
        progress("training example_bot …")
        started = time.monotonic()
        with rasa_process.log_file(folder / "train.log") as log:
            await rasa_process.train_bot(options, log)
        trained = time.monotonic() - started
        credentials = folder / "credentials.yml"
        port = rasa_process.free_port()
        url = f"http://127.0.0.1:{port}"
        text = credentials_yaml("current", standin_url, WEBHOOK_AUTH, hosting(url, bot))
        webhook_base = None
        if own_webhook_port:
            front_port = rasa_process.free_port()
            webhook_base = f"http://127.0.0.1:{front_port}"
            connector_options = {**connector_options, "webhook_port": front_port,
                                 "webhook_host": "127.0.0.1"}  # fmt: skip
        extra = "".join(f"\n  {k}: {json.dumps(v)}" for k, v in connector_options.items())
        credentials.write_text(text.replace("\nrest:\n", extra + "\nrest:\n"), encoding="utf-8")
        log_path = folder / "rasa.log"
        progress(f"starting rasa run on {url} …")
        started = time.monotonic()
        with rasa_process.log_file(log_path) as log:
            process = await rasa_process.start_rasa(run_options, credentials, port, log)
        try:
            await rasa_process.wait_healthy(
                url + HEALTH_PATH, process, log_path, run_options.startup_timeout
            )
            if webhook_base is not None:  # it opens once Rasa's server has started
                await rasa_process.wait_healthy(webhook_base + HEALTH_PATH, process, log_path, 30)
            yield RasaServer(
                url, process.pid, log_path, trained, time.monotonic() - started, webhook_base
            )
        finally:
            await rasa_process.stop_process(process)
