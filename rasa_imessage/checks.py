"""`rasa-imessage check`: is this credentials.yml ready for production?

Offline it validates what Rasa would (keys, types, `${VAR}`s); online it asks LoopMessage
whether the keys are accepted, and asks the running bot whether its webhook answers, rejects
a wrong `Authorization` and accepts the right one, and whether `public_url` reaches it and
serves a file of `media_dir` there; a Redis `dedupe_store` must take a write. The webhook
probe posts an event type LoopMessage marks as unknown, so the bot acknowledges it without
running a turn.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional
from urllib.parse import urlsplit

import aiohttp

from .config import ConfigError, IMessageConfig, load_config
from .hosted_media import media_host_for
from .idempotency import StoreUnavailable
from .loopmessage import (
    APIConnectionError,
    APIError,
    LoopMessageClient,
    LoopMessageError,
)

__all__ = ["CheckReport", "check_credentials"]

WEBHOOK_PATH = "/webhooks/imessage/webhook"
HEALTH_PATH = "/webhooks/imessage/"
_ENV_REF = re.compile(r"\$\{([^}]*)\}")
_AUTH_CODES = {110, 125, 130}


@dataclass
class CheckReport:
    """Lines of `ok`/`warn`/`fail` findings; `ok` is False once anything failed."""

    lines: List[str] = field(default_factory=list)
    failed: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed

    def good(self, text: str) -> None:
        self.lines.append(f"✓ {text}")

    def warn(self, text: str) -> None:
        self.lines.append(f"! {text}")

    def fail(self, text: str) -> None:
        self.failed = True
        self.lines.append(f"✗ {text}")

    def render(self) -> str:
        verdict = "ready" if self.ok else "NOT ready"
        return "\n".join([*self.lines, "", f"credentials: {verdict}"])


def _env_refs(block: Mapping[str, Any]) -> List[str]:
    return sorted({name for value in block.values() if isinstance(value, str)
                   for name in _ENV_REF.findall(value)})  # fmt: skip


def _offline(block: Mapping[str, Any], report: CheckReport) -> Optional[IMessageConfig]:
    for name in _env_refs(block):
        if name in os.environ:
            report.good(f"environment variable {name} is set")
        else:
            report.fail(f"environment variable {name} is not set")
    try:
        config = load_config(block)
    except ConfigError as exc:
        report.fail(str(exc))
        return None
    report.good(f"credentials are valid for the {config.api} API")
    if config.allow_unauthenticated_webhooks:
        report.warn("allow_unauthenticated_webhooks is on: anyone can post to your webhook")
    elif config.webhook_auth is not None and len(config.webhook_auth.get_secret_value()) < 24:
        report.warn("webhook_auth is short: use a long random value (openssl rand -hex 32)")
    if config.base_url and not config.base_url.startswith("https://"):
        report.warn(f"base_url is not https ({config.base_url}): fine for the emulator only")
    return config


async def _check_keys(
    config: IMessageConfig, client: LoopMessageClient, report: CheckReport
) -> bool:
    """Ask for the status of a message that does not exist: 404 means the keys were accepted."""
    try:
        await client.get_status("rasa-imessage-check-" + uuid.uuid4().hex)
    except APIError as exc:
        if exc.status == 404 or (exc.code is not None and exc.code not in _AUTH_CODES
                                 and exc.status < 500):  # fmt: skip
            report.good(f"LoopMessage accepted the {config.api} API keys")
            return True
        report.fail(f"LoopMessage refused the keys: {exc}")
    except APIConnectionError as exc:
        report.fail(
            f"LoopMessage could not be reached at {client.config.effective_base_url}: {exc}"
        )
    except LoopMessageError as exc:
        report.fail(f"LoopMessage key check failed: {exc}")
    else:
        report.good(f"LoopMessage accepted the {config.api} API keys")
        return True
    return False


async def _check_senders(
    config: IMessageConfig, client: LoopMessageClient, report: CheckReport
) -> None:
    """Current API: the configured `sender` is one of the organization's, and active; a
    wrong id would have every send that names it refused (220)."""
    try:
        senders = await client.list_senders()
    except LoopMessageError as exc:
        report.warn(f"could not list your senders: {exc}")
        return
    by_id = {sender.id: sender for sender in senders}
    if config.sender is None:
        active = [sender.id for sender in senders if sender.status == "active"]
        if active:
            report.good(f"active senders: {', '.join(active)}")
        else:
            report.warn("no active sender in this organization: nothing can be sent")
        return
    chosen = by_id.get(config.sender)
    if chosen is None:
        report.fail(f"sender {config.sender!r} is not one of this organization's senders "
                    f"({', '.join(by_id) or 'none'}): LoopMessage refuses sends naming it "
                    "(code 220); `rasa-imessage senders` lists them")  # fmt: skip
    elif chosen.status != "active":
        report.warn(f"sender {config.sender!r} is {chosen.status}: it sends only when active")
    else:
        report.good(f"sender {config.sender!r} is one of this organization's, and active")


def _probe_body(api: str) -> Dict[str, str]:
    key = "event" if api == "current" else "alert_type"
    return {key: "unknown", "webhook_id": "check-" + uuid.uuid4().hex, "api_version": "1.0"}


async def _check_webhook(config: IMessageConfig, bot_url: str, report: CheckReport) -> None:
    base = bot_url.rstrip("/")
    secret = config.webhook_auth.get_secret_value() if config.webhook_auth else None
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        try:
            await _round_trip(http, base, secret, _probe_body(config.api), report)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            report.fail(f"the bot at {base} did not answer: {type(exc).__name__}")


async def _status(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> int:
    async with http.request(method, url, **kwargs) as answer:
        await answer.read()
        return answer.status


async def _round_trip(
    http: aiohttp.ClientSession,
    base: str,
    secret: Optional[str],
    body: Dict[str, str],
    report: CheckReport,
) -> None:
    """Health route, then the webhook with a wrong and with the configured header."""
    health = await _status(http, "GET", base + HEALTH_PATH)
    if health != 200:
        report.fail(f"{base}{HEALTH_PATH} answered {health}: is the channel in "
                    "credentials.yml of that bot?")  # fmt: skip
        return
    report.good(f"{base}{HEALTH_PATH} answers: the imessage channel is loaded")
    wrong = await _status(http, "POST", base + WEBHOOK_PATH, json=body,
                          headers={"Authorization": "rasa-imessage-check-wrong"})  # fmt: skip
    if secret is not None and wrong != 401:
        report.fail(f"a wrong Authorization header got {wrong}, not 401")
    elif secret is not None:
        report.good("a wrong Authorization header is refused (401)")
    headers = {"Authorization": secret} if secret is not None else {}
    right = await _status(http, "POST", base + WEBHOOK_PATH, json=body, headers=headers)
    if right == 200:
        report.good("the webhook accepts LoopMessage's Authorization header (200)")
    else:
        report.fail(f"the webhook answered {right} to the configured header: "
                    "the bot runs with a different webhook_auth")  # fmt: skip


async def _check_public_url(config: IMessageConfig, report: CheckReport) -> None:
    """The address LoopMessage fetches the bot's files from: does it reach this bot's
    channel, and does that serve a file of `media_dir` with these credentials?"""
    assert config.public_url is not None
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        try:
            health = await _status(http, "GET", config.public_url + HEALTH_PATH)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            report.warn(
                f"public_url {config.public_url} did not answer ({type(exc).__name__}): "
                "LoopMessage could not fetch the bot's files; is the bot running?"
            )
            return
        if health != 200:
            report.warn(f"public_url: {config.public_url}{HEALTH_PATH} answered {health}; it "
                        "must reach this bot's Rasa port or webhook_port, which serve its "
                        "files")  # fmt: skip
            return
        report.good(f"public_url {config.public_url} reaches the imessage channel")
        sample = _sample_file(config.media_dir) if config.media_dir else None
        host = media_host_for(config, share=False)  # URLs of files: no Redis client needed
        if sample is None or host is None:
            return
        served = await _status(http, "GET", host.url_for(sample))
    if served == 200:
        report.good(f"public_url serves the files of media_dir (fetched {sample})")
    else:
        report.fail(f"public_url answered {served} for {sample} of media_dir: the bot there "
                    "runs with another media_dir or LoopMessage key")  # fmt: skip


def _sample_file(media_dir: str) -> Optional[str]:
    """A file at the top of media_dir to fetch (the first name, so the check repeats)."""
    try:
        with os.scandir(media_dir) as entries:
            names = sorted(e.name for e in entries if e.is_file() and not e.name.startswith("."))
    except OSError:
        return None
    return names[0] if names else None


async def check_credentials(
    block: Mapping[str, Any], *, online: bool = True, bot_url: Optional[str] = None
) -> CheckReport:
    """Check a `rasa_imessage.IMessageInput` block; online checks talk to LoopMessage/the bot."""
    report = CheckReport()
    config = _offline(block, report)
    if config is None:
        return report
    if online:  # one client, one connection pool, for both requests
        async with LoopMessageClient(config.client_config()) as client:
            if await _check_keys(config, client, report) and config.api == "current":
                await _check_senders(config, client, report)
    if bot_url:
        await _check_webhook(config, bot_url, report)
    if online and config.public_url:
        await _check_public_url(config, report)
    if online and config.dedupe_store != "memory":
        await _check_store(config.dedupe_store, report)
    return report


async def _check_store(url: str, report: CheckReport) -> None:
    """`dedupe_store`: every webhook's claim is a write there, so a write is what is tried."""
    from .redis_store import RedisStore

    where = _store_address(url)
    try:
        store = RedisStore(url)
    except RuntimeError as exc:  # redis-py is not installed
        report.fail(str(exc))
        return
    try:
        await store.probe()
    except StoreUnavailable as exc:
        report.fail(f"dedupe_store: Redis at {where} took no write ({exc}); webhooks would "
                    "get 503 until it does")  # fmt: skip
    else:
        report.good(f"dedupe_store: Redis at {where} answered and took a write")
    finally:
        await store.aclose()


def _store_address(url: str) -> str:
    """Where the store is, without a user or password the URL may hold."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
