"""Which media URLs LoopMessage may be asked to fetch: public https hosts only.

LoopMessage downloads each attachment and voice URL from the internet and passes it on to
the recipient's phone, so a URL naming this machine, a private network or a user name and
password is refused before the send, naming the field and never echoing the URL (it may
carry a signature). The emulator serves uploads on loopback, so `LOCAL_URLS` lets a send
to a stand-in on this machine use them.
"""

from __future__ import annotations

import ipaddress
from contextvars import ContextVar
from typing import Optional
from urllib.parse import urlsplit

from ._errors import InvalidRequestError

__all__ = ["LOCAL_URLS", "MAX_URL_LENGTH", "check_url", "is_loopback_url"]

# Attachment and media URLs: "≤ 256 chars" (both generations).
MAX_URL_LENGTH = 256
# Set by SendRequest.create(local_urls=True) while its checks run.
LOCAL_URLS: ContextVar[bool] = ContextVar("LOCAL_URLS", default=False)


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs whose host is this machine (127.0.0.0/8, ::1, localhost)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme not in ("http", "https"):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(field: str, url: str, item: str = "") -> None:
    if LOCAL_URLS.get() and is_loopback_url(url) and len(url) <= MAX_URL_LENGTH:
        return
    if not url.lower().startswith("https://"):
        raise InvalidRequestError(field, f"{item}must be a public https:// URL (http is refused)")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidRequestError(
            field,
            f"{item}is {len(url)} characters long; LoopMessage takes at most {MAX_URL_LENGTH}",
        )
    problem = _url_problem(url)
    if problem is not None:
        raise InvalidRequestError(field, f"{item}{problem}")


def _url_problem(url: str) -> Optional[str]:
    """Why LoopMessage could not, or should not, fetch this https URL (never echoes it)."""
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        return "must not contain spaces or control characters; percent-encode them"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "is not a valid URL"
    if not host:
        return "has no host name"
    if parts.username is not None or parts.password is not None:
        # They would travel to LoopMessage and on to the recipient's phone.
        return "must not carry a user name or password; use a signed URL instead"
    if host == "localhost" or host.endswith(".localhost") or _is_internal_ip(host):
        return "must name a public host: LoopMessage fetches it from the internet"
    return None


def _is_internal_ip(host: str) -> bool:
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:  # a host name
        return False
