"""How to reach LoopMessage: the generation, the credentials, the host and the timeouts.

Credentials are pydantic `SecretStr` and the repr prints them as '***', so neither a
log line nor a traceback can hold what the object never shows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, List, Union
from urllib.parse import urlsplit

from pydantic import SecretStr

from ._codes import API_GENERATIONS

__all__ = ["DEFAULT_BASE_URLS", "ClientConfig", "has_control_character", "secret_value"]

DEFAULT_BASE_URLS = {
    "current": "https://a.loopmessage.com",
    "legacy": "https://server.loopmessage.com",
}
_SECRETS = ("api_key", "authorization_key", "secret_key")
_REQUIRED = {"current": ("api_key",), "legacy": ("authorization_key", "secret_key", "sender_name")}


@dataclass(frozen=True, repr=False)
class ClientConfig:
    """How to reach LoopMessage. Secrets are SecretStr and print as '***'."""

    api: str = "current"
    api_key: SecretStr | None = None
    sender: str | None = None
    authorization_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    sender_name: str | None = None
    base_url: str | None = None
    timeout: float = 10.0
    connect_timeout: float = 5.0
    max_connections: int = 100

    def __post_init__(self) -> None:
        if self.api not in API_GENERATIONS:
            raise ValueError(f"api must be 'current' or 'legacy', not {self.api!r}")
        for name in _SECRETS:
            value: Any = getattr(self, name)
            if isinstance(value, str):  # a plain string slipped in: wrap it before any repr
                object.__setattr__(self, name, SecretStr(value))
                value = getattr(self, name)
            if value is not None and has_control_character(value.get_secret_value()):
                # It goes out as a header value, which cannot carry one; never shown.
                raise ValueError(f"{name} contains a line break or another control character")
        if self.base_url is not None:
            parts = urlsplit(self.base_url)
            try:
                parts.port  # noqa: B018  # raises ValueError when out of range or not a number
            except ValueError:
                parts = parts._replace(netloc="")
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise ValueError(
                    "base_url must be an https:// URL with a host and, if any, a port from 1 "
                    "to 65535 (http:// for a local emulator)"
                )
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("timeout and connect_timeout must be positive seconds")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")

    def __repr__(self) -> str:
        shown = []
        for field in fields(self):
            value = getattr(self, field.name)
            text = "'***'" if field.name in _SECRETS and value is not None else repr(value)
            shown.append(f"{field.name}={text}")
        return f"ClientConfig({', '.join(shown)})"

    @property
    def effective_base_url(self) -> str:
        """`base_url` without a trailing slash, or the generation's LoopMessage host."""
        return (self.base_url or DEFAULT_BASE_URLS[self.api]).rstrip("/")

    def missing_credentials(self) -> List[str]:
        """The credential keys this generation needs and this config lacks."""
        return [name for name in _REQUIRED[self.api] if not secret_value(getattr(self, name))]


def has_control_character(text: str) -> bool:
    """A line break, NUL, DEL or the like: what no HTTP header value may carry."""
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


def secret_value(setting: Union[SecretStr, str, None]) -> str:
    """The plain value of a credential, "" when unset; only for building headers."""
    if isinstance(setting, SecretStr):
        return setting.get_secret_value()
    return setting or ""
