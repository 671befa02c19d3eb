"""Parsers of credentials values: strings from YAML or `${VAR}` into typed settings.

Rasa hands over every substituted value as a string, so each parser accepts the string
form as well as the YAML type, and names the key in a `ConfigError` when it cannot.
"""

from __future__ import annotations

import contextlib
import math
import re
from pathlib import Path
from typing import Any, Callable, Optional, Tuple
from urllib.parse import SplitResult, urlsplit

from pydantic import SecretStr

from .loopmessage._config import has_control_character
from .loopmessage._media_urls import is_loopback_url

__all__ = [
    "ConfigError",
    "as_base_url",
    "as_bool",
    "as_bool_or_auto",
    "as_float",
    "as_host",
    "as_int",
    "as_intent",
    "as_media_dir",
    "as_names",
    "as_optional_int",
    "as_optional_text",
    "as_public_url",
    "as_secret",
    "as_store_url",
    "as_str",
    "one_of",
    "some_of",
]


class ConfigError(ValueError):
    """A credentials.yml value is missing, unknown or of the wrong type."""


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"credentials key '{key}': expected true or false, got {value!r}")


def as_bool_or_auto(key: str, value: Any) -> Optional[bool]:
    """true, false, or `auto` (None): the connector decides."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    try:
        return as_bool(key, value)
    except ConfigError:
        raise ConfigError(
            f"credentials key '{key}': expected true, false or auto, got {value!r}"
        ) from None


def as_int(key: str, value: Any) -> int:
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


def as_optional_int(key: str, value: Any) -> Optional[int]:
    """A whole number, or None when left empty (`key:` or `${VAR}` set to nothing)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return as_int(key, value)


_HOST = re.compile(r"[A-Za-z0-9.\-:\[\]]+")


def as_host(key: str, value: Any) -> str:
    """An address to listen on: an IP (`0.0.0.0`, `::`) or a host name."""
    text = as_str(key, value).strip()
    if not _HOST.fullmatch(text):
        raise ConfigError(
            f"credentials key '{key}': expected an address to listen on such as 0.0.0.0 or "
            f"127.0.0.1, got {value!r}"
        )
    return text.strip("[]")


def as_float(key: str, value: Any) -> float:
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


def as_str(key: str, value: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"credentials key '{key}': expected text, got {type(value).__name__}")


def as_names(key: str, value: Any) -> Tuple[str, ...]:
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = [as_str(key, item).strip() for item in value]
    else:
        raise ConfigError(f"credentials key '{key}': expected a list of names or a comma list")
    return tuple(item for item in items if item)


def as_intent(key: str, value: Any) -> Optional[str]:
    """An intent name, or None when switched off with `false`/`null`/empty."""
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.strip().lower() in _FALSE | {"", "null", "none"}:
        return None
    name = as_str(key, value).strip()
    if not re.fullmatch(r"[A-Za-z0-9_\-.]+", name):
        raise ConfigError(
            f"credentials key '{key}': '{name}' is not a valid intent name "
            "(letters, digits, _ - . only), or write false to switch it off"
        )
    return name


_ALL = ("", "all", "null")


def some_of(*allowed: str) -> Callable[[str, Any], Optional[Tuple[str, ...]]]:
    """A list of names from `allowed`; None (all of them) for `all`, `null` or no value, as
    for any key. An empty list is none of them."""

    def parse(key: str, value: Any) -> Optional[Tuple[str, ...]]:
        if value is None or (isinstance(value, str) and value.strip().lower() in _ALL):
            return None
        names = as_names(key, value)
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise ConfigError(
                f"credentials key '{key}': {', '.join(unknown)} not among {', '.join(allowed)}"
            )
        return names

    return parse


def one_of(*allowed: str) -> Callable[[str, Any], str]:
    def parse(key: str, value: Any) -> str:
        text = as_str(key, value).strip().lower()
        if text not in allowed:
            raise ConfigError(
                f"credentials key '{key}': '{value}' is not one of {', '.join(allowed)}"
            )
        return text

    return parse


def as_secret(key: str, value: Any) -> SecretStr:
    # HTTP trims a header value's outer whitespace, so a secret with a stray space or newline
    # (a pasted key, an env file) could never match a webhook nor be sent as a header.
    text = as_str(key, value).strip()
    if has_control_character(text):  # the value itself is never shown
        raise ConfigError(
            f"credentials key '{key}': contains a line break or another control character, "
            "which no HTTP header can carry; copy the value again"
        )
    return SecretStr(text)


def as_optional_text(key: str, value: Any) -> Optional[str]:
    text = as_str(key, value).strip()
    return text or None


def _parsed(text: str) -> Tuple[Optional[SplitResult], Optional[str]]:
    """A URL's parts and host; neither for one that does not parse or has a bad port."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  # raises ValueError for a port out of range or not a number
    except ValueError:
        return None, None
    return parts, parts.hostname


def as_base_url(key: str, value: Any) -> Optional[str]:
    text = as_optional_text(key, value)
    if text is None:
        return None
    parts, host = _parsed(text)
    if parts is None or not host or parts.scheme not in ("https", "http"):
        raise ConfigError(
            f"credentials key '{key}': expected an https:// URL with a host and, if any, a "
            f"port from 1 to 65535 (http:// for a local emulator), got {text!r}"
        )
    return text


def as_public_url(key: str, value: Any) -> Optional[str]:
    """The address LoopMessage reaches this server at: https, or http on this machine for a
    local emulator; no query or fragment, since paths are added to it."""
    text = as_optional_text(key, value)
    if text is None:
        return None
    parts, host = _parsed(text)
    public = parts is not None and parts.scheme == "https" and not parts.username
    local = parts is not None and parts.scheme == "http" and is_loopback_url(text)
    if parts is None or not host or not (public or local) or parts.password:
        problem = "expected the https:// address this Rasa server is reached at"
    elif parts.query or parts.fragment:
        problem = "expected no query or fragment"
    else:
        return text.rstrip("/")
    raise ConfigError(
        f"credentials key '{key}': {problem}, such as https://bot.example.com (http:// only "
        f"for 127.0.0.1 or localhost), got {text!r}"
    )


def as_media_dir(key: str, value: Any) -> Optional[str]:
    """A folder that exists, made absolute now: `rasa run`'s working directory may be the
    bot's folder at start-up and the paths must not change meaning later."""
    text = as_optional_text(key, value)
    if text is None:
        return None
    try:
        path = Path(text).expanduser().resolve()
    except (RuntimeError, ValueError) as exc:  # ~user with no home, a NUL byte
        raise ConfigError(
            f"credentials key '{key}': {text!r} is not a usable path: {exc}"
        ) from None
    if not path.is_dir():
        raise ConfigError(
            f"credentials key '{key}': {text!r} is not a folder (relative paths start from "
            f"the folder rasa run is started in: {Path.cwd()})"
        )
    return str(path)


def as_store_url(key: str, value: Any) -> str:
    """'memory', or a Redis URL that redis-py will take: checked now, so a wrong port or
    option is a start-up error rather than a crash when the channel is built."""
    text = as_str(key, value).strip()
    if text == "memory":
        return text
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"credentials key '{key}': expected 'memory' or a redis://host:port/db URL, "
            f"got {text!r}"
        )
    problem = _redis_url_problem(text)
    if problem is not None:  # the URL is not repeated: it may hold a password
        raise ConfigError(f"credentials key '{key}': not a Redis URL redis-py takes: {problem}")
    return text


def _redis_url_problem(url: str) -> Optional[str]:
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed [IPv6 address
        return str(exc)
    if parts.scheme == "unix":
        return None if parts.path else "unix:// needs the socket's path, as unix:///run/redis.sock"
    if parts.path not in ("", "/") and not parts.path[1:].isdigit():
        return f"the path names the database by its number, as /0, not {parts.path!r}"
    try:
        from redis.asyncio.connection import parse_url
    except ModuleNotFoundError:  # the channel says what to install when it is built
        return None
    try:
        parse_url(url)
    except ValueError as exc:  # a bad port, IPv6 address or query option
        return str(exc)
    return None
