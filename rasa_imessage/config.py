"""The connector's settings, read from the `credentials.yml` block.

Every key is declared once in `OPTIONS` (options.py: type, default, one line of help, its
parser in coercion.py). Rasa hands over every `${VAR}`-substituted value as a string, and
Rasa Pro leaves `${VAR}` unexpanded under keys such as `api_key`, so values are expanded
and coerced here. Errors are `ConfigError` (a `ValueError`): never `ImportError` or
`AttributeError`, which Rasa would hide behind "Failed to find input channel class".
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from typing import Any, Dict, Mapping, Optional, Tuple

from pydantic import SecretStr

from .coercion import ConfigError
from .contact_lists import ContactList
from .indicator import TYPING_DELAY
from .loopmessage import ClientConfig, is_loopback_url
from .options import OPTIONS, Option
from .tasks import MAX_CONCURRENT, MAX_QUEUED

__all__ = ["OPTIONS", "ConfigError", "IMessageConfig", "Option", "load_config", "parse_option"]


_BY_KEY: Dict[str, Option] = {option.key: option for option in OPTIONS}
_ENV_REF = re.compile(r"\$\{([^}]*)\}")


def _secret_repr(value: Optional[SecretStr]) -> str:
    return "None" if value is None else "'***'"


@dataclass(frozen=True)
class IMessageConfig:
    """Validated connector settings; secrets are `SecretStr` and never printed."""

    api: str = "current"
    api_key: Optional[SecretStr] = None
    sender: Optional[str] = None
    authorization_key: Optional[SecretStr] = None
    secret_key: Optional[SecretStr] = None
    sender_name: Optional[str] = None
    webhook_auth: Optional[SecretStr] = None
    allow_unauthenticated_webhooks: bool = False
    base_url: Optional[str] = None
    public_url: Optional[str] = None
    media_dir: Optional[str] = None
    typing_seconds: int = 8
    typing_delay: float = TYPING_DELAY
    mark_read: bool = True
    merge_window: float = 0.0
    merge_mode: str = "lead_ins"
    allow_intent_payloads: bool = False
    split_paragraphs: bool = True
    bubble_pause: float = 0.0
    request_timeout: float = 10.0
    max_retries: int = 2
    send_worker: Optional[bool] = False  # None: auto (cores.py)
    webhook_port: Optional[int] = None
    webhook_host: str = "0.0.0.0"  # noqa: S104 - as `rasa run`; webhooks carry webhook_auth
    max_concurrent_turns: int = MAX_CONCURRENT
    max_queued_turns: int = MAX_QUEUED
    cache_action_schema: bool = True
    cache_event_types: bool = True
    dedupe_store: str = "memory"
    dedupe_ttl_seconds: int = 21600
    dedupe_lease_seconds: float = 60.0
    dedupe_max_entries: int = 200000
    max_body_bytes: int = 1048576
    shutdown_timeout: float = 10.0
    metrics: bool = False
    voice_messages: bool = True
    group_reply: str = "always"
    bot_names: Tuple[str, ...] = ()
    allowed_contacts: Optional[ContactList] = None  # None: everyone
    blocked_contacts: Optional[ContactList] = None  # None: no one
    metadata_keys: Optional[Tuple[str, ...]] = None  # None: every key
    attachment_intent: Optional[str] = "imessage_attachment"
    reaction_intent: Optional[str] = "imessage_reaction"
    delivery_failed_intent: Optional[str] = "imessage_delivery_failed"
    conversation_started_intent: Optional[str] = "imessage_conversation_started"
    call_intent: Optional[str] = "imessage_call"

    def client_config(self) -> ClientConfig:
        """The LoopMessage client's settings: the one place credentials map onto the API layer."""
        return ClientConfig(
            api=self.api,
            api_key=self.api_key,
            sender=self.sender,
            authorization_key=self.authorization_key,
            secret_key=self.secret_key,
            sender_name=self.sender_name,
            base_url=self.base_url,
            timeout=self.request_timeout,
        )

    def __repr__(self) -> str:
        shown = []
        for item in fields(self):
            value = getattr(self, item.name)
            text = _secret_repr(value) if _BY_KEY[item.name].kind == "secret" else repr(value)
            shown.append(f"{item.name}={text}")
        return f"IMessageConfig({', '.join(shown)})"


def _expand(key: str, value: Any, environ: Mapping[str, str]) -> Any:
    """Expand `${VAR}` that Rasa left alone (quoted values, Rasa Pro's sensitive keys)."""
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(
                f"credentials key '{key}': environment variable {name} is not set; "
                f"export {name}=... before starting Rasa"
            )
        return environ[name]

    return _ENV_REF.sub(substitute, value)


def _check_range(option: Option, value: Any) -> None:
    if value is None:  # an optional number left empty
        return
    if option.minimum is not None and value < option.minimum:
        raise ConfigError(
            f"credentials key '{option.key}': {value} is below the minimum {option.minimum:g}"
        )
    if option.maximum is not None and value > option.maximum:
        raise ConfigError(
            f"credentials key '{option.key}': {value} is above the maximum {option.maximum:g}"
        )


def _require(config: IMessageConfig) -> None:
    missing: Tuple[str, ...]
    if config.api == "current":
        missing = () if config.api_key else ("api_key",)
    else:
        missing = tuple(
            key
            for key in ("authorization_key", "secret_key", "sender_name")
            if not getattr(config, key)
        )
    if missing:
        raise ConfigError(
            f"credentials for api '{config.api}' need {', '.join(missing)}; add "
            + ", ".join(f"{key}: ${{LOOPMESSAGE_{key.upper()}}}" for key in missing)
            + " to the rasa_imessage.IMessageInput block"
        )
    if config.webhook_auth is None and not config.allow_unauthenticated_webhooks:
        raise ConfigError(
            "credentials key 'webhook_auth' is required: set it to the Authorization header "
            "value configured for webhooks in the LoopMessage dashboard (a long random string), "
            "or set allow_unauthenticated_webhooks: true for local experiments"
        )
    if config.webhook_auth is not None and not config.webhook_auth.get_secret_value():
        raise ConfigError("credentials key 'webhook_auth' is empty; set a long random value")
    emulated = config.base_url is not None and is_loopback_url(config.base_url)
    if config.public_url is not None and is_loopback_url(config.public_url) and not emulated:
        raise ConfigError(
            f"credentials key 'public_url': {config.public_url} is this machine's own "
            "address, which only a local emulator (base_url) can fetch from; give the https:// "
            "address LoopMessage reaches this server at"
        )
    if config.media_dir is not None and config.public_url is None:
        raise ConfigError(
            "credentials key 'media_dir' needs public_url: the https:// address LoopMessage "
            "reaches this Rasa server at, which the files are served from"
        )


def parse_option(key: str, raw: Any) -> Any:
    """One known key's value, coerced and range-checked as in credentials.yml (`ConfigError`
    otherwise): for callers that write a credentials block (the demo's flags)."""
    option = _BY_KEY[key]
    value = option.parse(key, raw)
    if option.minimum is not None or option.maximum is not None:
        _check_range(option, value)
    return value


def load_config(
    credentials: Optional[Mapping[str, Any]], environ: Optional[Mapping[str, str]] = None
) -> IMessageConfig:
    """Validate a credentials mapping into an `IMessageConfig`, naming any bad key."""
    if credentials is None:
        raise ConfigError(
            "the rasa_imessage.IMessageInput block in credentials.yml is empty; "
            "it needs at least api_key and webhook_auth"
        )
    if not isinstance(credentials, Mapping):
        raise ConfigError("the rasa_imessage.IMessageInput block must be a mapping of keys")
    env = os.environ if environ is None else environ
    unknown = sorted(str(key) for key in credentials if key not in _BY_KEY)
    if unknown:
        raise ConfigError(
            f"unknown credentials key(s): {', '.join(unknown)}; the known keys are "
            + ", ".join(_BY_KEY)
        )
    values: Dict[str, Any] = {}
    for key, raw in credentials.items():
        if raw is None and _BY_KEY[key].kind not in ("intent",):
            continue  # `key:` with no value means the default
        values[key] = parse_option(key, _expand(key, raw, env))
    config = IMessageConfig(**values)
    _require(config)
    return config
