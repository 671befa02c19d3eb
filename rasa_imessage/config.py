"""The connector's settings, read from the `credentials.yml` block.

Every key is declared once in `OPTIONS` (type, default, one line of help); the README's
configuration table and `rasa-imessage check` are built from the same table, so the three
never disagree. Rasa hands over every `${VAR}`-substituted value as a string, and Rasa Pro
leaves `${VAR}` unexpanded under keys such as `api_key`, so values are expanded and coerced
here. Errors are `ConfigError` (a `ValueError`): never `ImportError`/`AttributeError`, which
Rasa would hide behind "Failed to find input channel class".
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from dataclasses import dataclass, fields
from typing import Any, Callable, Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from pydantic import SecretStr

from .loopmessage import ClientConfig

__all__ = ["OPTIONS", "ConfigError", "IMessageConfig", "Option", "load_config"]


class ConfigError(ValueError):
    """A credentials.yml value is missing, unknown or of the wrong type."""


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_ENV_REF = re.compile(r"\$\{([^}]*)\}")


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"credentials key '{key}': expected true or false, got {value!r}")


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"credentials key '{key}': expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"credentials key '{key}': expected a whole number, got {value!r}")


def _as_float(key: str, value: Any) -> float:
    number: Optional[float] = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value.strip())
    # "nan" parses as a float and slips past every range check (nan < 1 is False).
    if number is None or not math.isfinite(number):
        raise ConfigError(f"credentials key '{key}': expected a number, got {value!r}")
    return number


def _as_str(key: str, value: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"credentials key '{key}': expected text, got {type(value).__name__}")


def _as_names(key: str, value: Any) -> Tuple[str, ...]:
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = [_as_str(key, item).strip() for item in value]
    else:
        raise ConfigError(f"credentials key '{key}': expected a list of names or a comma list")
    return tuple(item for item in items if item)


def _as_intent(key: str, value: Any) -> Optional[str]:
    """An intent name, or None when switched off with `false`/`null`/empty."""
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.strip().lower() in _FALSE | {"", "null", "none"}:
        return None
    name = _as_str(key, value).strip()
    if not re.fullmatch(r"[A-Za-z0-9_\-.]+", name):
        raise ConfigError(
            f"credentials key '{key}': '{name}' is not a valid intent name "
            "(letters, digits, _ - . only), or write false to switch it off"
        )
    return name


@dataclass(frozen=True)
class Option:
    """One credentials key: how to read it and how to document it."""

    key: str
    kind: str  # shown in the README: text, secret, bool, int, number, choice, names, intent
    default: Any
    help: str
    parse: Callable[[str, Any], Any]
    choices: Tuple[str, ...] = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None


def _choice(*allowed: str) -> Callable[[str, Any], str]:
    def parse(key: str, value: Any) -> str:
        text = _as_str(key, value).strip().lower()
        if text not in allowed:
            raise ConfigError(
                f"credentials key '{key}': '{value}' is not one of {', '.join(allowed)}"
            )
        return text

    return parse


def _secret(key: str, value: Any) -> SecretStr:
    # HTTP trims a header value's outer whitespace, so a secret with a stray space or newline
    # (a pasted key, an env file) could never match a webhook nor be sent as a header.
    return SecretStr(_as_str(key, value).strip())


def _optional_text(key: str, value: Any) -> Optional[str]:
    text = _as_str(key, value).strip()
    return text or None


def _base_url(key: str, value: Any) -> Optional[str]:
    text = _optional_text(key, value)
    if text is None:
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        host = None
    else:
        host = host if parts.scheme in ("https", "http") else None
    if not host:
        raise ConfigError(
            f"credentials key '{key}': expected an https:// URL with a host "
            f"(http:// for a local emulator), got {text!r}"
        )
    return text


def _store_url(key: str, value: Any) -> str:
    text = _as_str(key, value).strip()
    if text == "memory" or text.startswith(("redis://", "rediss://", "unix://")):
        return text
    raise ConfigError(
        f"credentials key '{key}': expected 'memory' or a redis://host:port/db URL, got {text!r}"
    )


OPTIONS: Tuple[Option, ...] = (
    Option(
        "api",
        "choice",
        "current",
        "LoopMessage API generation: `current` "
        "(a.loopmessage.com, one organization key) or `legacy` (server.loopmessage.com)",
        _choice("current", "legacy"),
        choices=("current", "legacy"),
    ),
    Option(
        "api_key",
        "secret",
        None,
        "current API: the organization API key, sent as `Authorization`",
        _secret,
    ),
    Option(
        "sender",
        "text",
        None,
        "current API: sender-name id to send from (default: LoopMessage picks)",
        _optional_text,
    ),
    Option("authorization_key", "secret", None, "legacy API: the Authorization key", _secret),
    Option(
        "secret_key",
        "secret",
        None,
        "legacy API: the API secret key, sent as `Loop-Secret-Key`",
        _secret,
    ),
    Option(
        "sender_name",
        "text",
        None,
        "legacy API: your sender name, e.g. `brand@imsg.co` (required on legacy)",
        _optional_text,
    ),
    Option(
        "webhook_auth",
        "secret",
        None,
        "the exact `Authorization` header value set for webhooks in the LoopMessage dashboard",
        _secret,
    ),
    Option(
        "allow_unauthenticated_webhooks",
        "bool",
        False,
        "accept webhooks without an `Authorization` check (local experiments only; logs a warning)",
        _as_bool,
    ),
    Option(
        "base_url",
        "text",
        None,
        "API base URL override: the local emulator or a proxy",
        _base_url,
    ),
    Option(
        "typing_seconds",
        "int",
        8,
        "typing indicator shown while the bot works (0 = off, at most 60)",
        _as_int,
        minimum=0,
        maximum=60,
    ),
    Option(
        "typing_delay",
        "number",
        0.0,
        "current API: seconds the bot may take before the typing indicator shows; a "
        "reply within them needs no indicator and no show-typing call (0 = at once)",
        _as_float,
        minimum=0,
        maximum=60,
    ),
    Option("mark_read", "bool", True, "mark inbound messages read", _as_bool),
    Option(
        "allow_intent_payloads",
        "bool",
        False,
        "let users trigger intents by typing "
        "`/intent{...}` (off: a leading `/` is removed before NLU)",
        _as_bool,
    ),
    Option(
        "split_paragraphs",
        "bool",
        True,
        "send each paragraph (text split on blank "
        "lines) as its own bubble, like Rasa's built-in channels",
        _as_bool,
    ),
    Option(
        "request_timeout",
        "number",
        10.0,
        "seconds to wait for a LoopMessage answer",
        _as_float,
        minimum=1,
        maximum=120,
    ),
    Option(
        "max_retries",
        "int",
        2,
        "retries of a send after a transient failure (network, 5xx, 429, codes 1000/1010)",
        _as_int,
        minimum=0,
        maximum=10,
    ),
    Option(
        "max_concurrent_turns",
        "int",
        8,
        "Rasa turns run at once; more wait in order, so webhook acks stay fast under bursts",
        _as_int,
        minimum=1,
        maximum=1000,
    ),
    Option(
        "max_queued_turns",
        "int",
        10000,
        "turns waiting at most; beyond it webhooks get 503 and LoopMessage retries them later",
        _as_int,
        minimum=1,
    ),
    Option(
        "dedupe_store",
        "text",
        "memory",
        "where handled `webhook_id`s are kept: `memory` or a `redis://` URL shared by all replicas",
        _store_url,
    ),
    Option(
        "dedupe_ttl_seconds",
        "int",
        21600,
        "how long a `webhook_id` is remembered (LoopMessage retries for about 3 h 05 min)",
        _as_int,
        minimum=14400,
    ),
    Option(
        "dedupe_lease_seconds",
        "number",
        60.0,
        "Redis store: a replica that stops renewing its claims for this long is taken for "
        "dead, and the webhooks it acked but did not finish run on another replica",
        _as_float,
        minimum=1,
        maximum=3600,
    ),
    Option(
        "dedupe_max_entries",
        "int",
        200000,
        "in-memory store: most `webhook_id`s kept (oldest dropped first)",
        _as_int,
        minimum=1000,
    ),
    Option(
        "max_body_bytes",
        "int",
        1048576,
        "largest webhook body accepted (413 beyond)",
        _as_int,
        minimum=1024,
    ),
    Option(
        "shutdown_timeout",
        "number",
        10.0,
        "seconds turns in flight may finish in on "
        "shutdown; unfinished ones are left for LoopMessage's retry",
        _as_float,
        minimum=0,
        maximum=600,
    ),
    Option(
        "voice_messages",
        "bool",
        True,
        "send audio URLs (mp3, wav, m4a, caf, aac) as iMessage voice messages",
        _as_bool,
    ),
    Option(
        "group_reply",
        "choice",
        "always",
        "in group chats answer `always`, or only on a "
        "`mention` of one of `bot_names` (or a reply to the bot)",
        _choice("always", "mention"),
        choices=("always", "mention"),
    ),
    Option("bot_names", "names", (), "names that count as a mention in group chats", _as_names),
    Option(
        "attachment_intent",
        "intent",
        "imessage_attachment",
        "intent for attachments without text (false = off)",
        _as_intent,
    ),
    Option(
        "reaction_intent",
        "intent",
        "imessage_reaction",
        "intent for tapbacks on bot messages (false = off)",
        _as_intent,
    ),
    Option(
        "delivery_failed_intent",
        "intent",
        "imessage_delivery_failed",
        "intent when an outbound message fails (false = off)",
        _as_intent,
    ),
    Option(
        "conversation_started_intent",
        "intent",
        "imessage_conversation_started",
        "intent on first contact / opt-in (false = off)",
        _as_intent,
    ),
)

_BY_KEY: Dict[str, Option] = {option.key: option for option in OPTIONS}


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
    typing_seconds: int = 8
    typing_delay: float = 0.0
    mark_read: bool = True
    allow_intent_payloads: bool = False
    split_paragraphs: bool = True
    request_timeout: float = 10.0
    max_retries: int = 2
    max_concurrent_turns: int = 8
    max_queued_turns: int = 10000
    dedupe_store: str = "memory"
    dedupe_ttl_seconds: int = 21600
    dedupe_lease_seconds: float = 60.0
    dedupe_max_entries: int = 200000
    max_body_bytes: int = 1048576
    shutdown_timeout: float = 10.0
    voice_messages: bool = True
    group_reply: str = "always"
    bot_names: Tuple[str, ...] = ()
    attachment_intent: Optional[str] = "imessage_attachment"
    reaction_intent: Optional[str] = "imessage_reaction"
    delivery_failed_intent: Optional[str] = "imessage_delivery_failed"
    conversation_started_intent: Optional[str] = "imessage_conversation_started"

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
        option = _BY_KEY[key]
        if raw is None and option.kind not in ("intent",):
            continue  # `key:` with no value means the default
        value = option.parse(key, _expand(key, raw, env))
        if option.minimum is not None or option.maximum is not None:
            _check_range(option, value)
        values[key] = value
    config = IMessageConfig(**values)
    _require(config)
    return config
