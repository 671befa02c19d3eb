"""The real thing for end-to-end tests: `rasa run` of example_bot wired to the emulator.

The emulator runs in a thread of the test process (so tests read its state directly); Rasa
runs as a subprocess exactly as a user starts it, with a credentials.yml that points the
connector at the emulator.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TypeVar

import httpx
from servers import wait_for_port

from rasa_imessage.demo import credentials_yaml, hosting
from rasa_imessage.emulator import DEFAULT_SENDERS, Emulator, EmulatorConfig, EmulatorThread
from rasa_imessage.rasa_process import free_port, rasa_environment

ROOT = Path(__file__).resolve().parent.parent
BOT_DIR = ROOT / "example_bot"
WEBHOOK_PATH = "/webhooks/imessage/webhook"
HEALTH_PATH = "/webhooks/imessage/"

T = TypeVar("T")


def train_example_bot(workdir: Path) -> Path:
    """Train example_bot into `workdir` (a copy, so a developer's checkout is untouched)."""
    bot = workdir / "bot"
    shutil.copytree(BOT_DIR, bot, ignore=shutil.ignore_patterns("models", ".rasa"))
    result = subprocess.run(
        [sys.executable, "-m", "rasa", "train", "--fixed-model-name", "example"],
        cwd=bot, env=rasa_environment(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"rasa train failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return bot


@dataclass
class RasaProcess:
    """One `rasa run` subprocess and its log."""

    url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> None:
        wait_for_port(int(self.url.rsplit(":", 1)[1]), 180, self.process)
        wait_until(lambda: _healthy(self.url), 60, "the channel's health route")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class BotStack:
    """`rasa run` replicas (most tests use one) and the emulator they talk to."""

    emulator: Emulator
    webhook_auth: str
    replicas: List[RasaProcess]

    @property
    def rasa_url(self) -> str:
        return self.replicas[0].url

    @property
    def emulator_url(self) -> str:
        return self.emulator.url

    @property
    def webhook_url(self) -> str:
        return self.replicas[0].webhook_url

    def log(self) -> str:
        return "\n".join(replica.log() for replica in self.replicas)

    def dev(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the emulator's dev API (`/emulator/...`) and return the decoded JSON."""
        response = httpx.request(method, self.emulator.url + path, timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def messages(self, conversation: str) -> List[Dict[str, Any]]:
        response = httpx.get(f"{self.emulator.url}/emulator/conversations/{conversation}/messages")
        return response.json() if response.status_code == 200 else []

    def bot_messages(self, conversation: str) -> List[Dict[str, Any]]:
        return [m for m in self.messages(conversation) if m["direction"] == "outbound"]

    def say(self, contact: str, text: str = "", **fields: Any) -> Dict[str, Any]:
        """A person texts the bot through the emulator (which posts the webhook)."""
        body = {"contact": contact, "text": text, **fields}
        return self.dev("POST", "/emulator/messages", json=body)  # type: ignore[no-any-return]

    def post_webhook(
        self, payload: Dict[str, Any], auth: Optional[str] = "", replica: int = 0
    ) -> httpx.Response:
        """POST a webhook straight to a replica, as LoopMessage would."""
        headers = {"User-Agent": "LoopMessage"}
        if auth is not None:
            headers["Authorization"] = auth or self.webhook_auth
        url = self.replicas[replica].webhook_url
        return httpx.post(url, json=payload, headers=headers, timeout=15)


def wait_until(check: Callable[[], Optional[T]], timeout: float = 30.0, what: str = "") -> T:
    """Poll `check` (another process's state offers no event) until it returns a value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")
        time.sleep(0.05)


@contextmanager
def bot_stack(
    bot_dir: Path,
    api: str = "current",
    extra: str = "",
    *,
    replicas: int = 1,
    rasa_args: Sequence[str] = (),
    env: Optional[Dict[str, str]] = None,
    senders: Sequence[str] = DEFAULT_SENDERS,
) -> Iterator[BotStack]:
    """Start the emulator and `replicas` copies of `rasa run` on free ports; stop them after.

    The emulator posts its webhooks to the first replica; `extra` is appended to the
    credentials.yml block and `rasa_args` to every `rasa run` command line. `senders` are
    the emulated organization's (current API).
    """
    webhook_auth = "e2e-" + os.urandom(12).hex()
    ports = [free_port() for _ in range(replicas)]
    emulator_thread = EmulatorThread(EmulatorConfig(
        api=api,  # type: ignore[arg-type]
        webhook_url=f"http://127.0.0.1:{ports[0]}{WEBHOOK_PATH}",
        webhook_auth=webhook_auth,
        retry_scale=0.01,
        senders=tuple(senders),
    ))  # fmt: skip
    emulator_url = emulator_thread.start()
    with tempfile.TemporaryDirectory(prefix="rasa-imessage-e2e-") as workdir:
        credentials = Path(workdir) / "credentials.yml"
        served_by = f"http://127.0.0.1:{ports[0]}"  # the bot's media folder, as in the demo
        hosted = hosting(served_by, bot_dir)
        yaml_text = credentials_yaml(api, emulator_url, webhook_auth, hosted)  # type: ignore[arg-type]
        credentials.write_text(yaml_text.replace("\nrest:\n", "\n") + extra, encoding="utf-8")
        started: List[RasaProcess] = []
        stack = BotStack(emulator_thread.emulator, webhook_auth, started)
        try:
            for index, port in enumerate(ports):
                log_path = Path(workdir) / f"rasa-{index}.log"
                with open(log_path, "wb") as log:
                    process = subprocess.Popen(
                        [sys.executable, "-m", "rasa", "run", "--model", "models",
                         "--credentials", str(credentials), "--port", str(port),
                         "--interface", "127.0.0.1", *rasa_args],
                        cwd=bot_dir, env={**rasa_environment(), **(env or {})},
                        stdout=log, stderr=subprocess.STDOUT,
                    )  # fmt: skip
                started.append(RasaProcess(f"http://127.0.0.1:{port}", log_path, process))
            for replica in started:  # they start side by side
                replica.wait_ready()
            yield stack
        except BaseException:
            sys.stderr.write(stack.log()[-8000:])
            raise
        finally:
            for replica in started:
                replica.stop()
            emulator_thread.stop()


def _healthy(rasa_url: str) -> bool:
    try:
        return httpx.get(rasa_url + HEALTH_PATH, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
