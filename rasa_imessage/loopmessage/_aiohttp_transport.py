"""Requests to LoopMessage through an aiohttp session: behind a proxy, or on a caller's pool.

The client's own connections (_transport.py) carry every other request; this transport
takes the same calls and gives the same `Answer` and the same errors, so the client does
not know which one it has. `_translated` is the one boundary where aiohttp's exceptions
become ours.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator, Mapping, Optional
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp

from ._config import ClientConfig
from ._connection import Answer
from ._media_urls import is_loopback_url
from ._transport import timed_out, unreachable, unusable

__all__ = ["AiohttpTransport", "pooled_session", "proxy_for"]


def proxy_for(base_url: str) -> Optional[str]:
    """The proxy that HTTPS_PROXY/HTTP_PROXY name for this host, unless NO_PROXY exempts it.

    A local emulator is never proxied: a proxy cannot reach this machine's loopback.
    """
    parts = urlsplit(base_url)
    proxy = getproxies().get(parts.scheme)
    if proxy is None or is_loopback_url(base_url) or proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def pooled_session(config: ClientConfig) -> aiohttp.ClientSession:
    """The session the client makes for itself behind a proxy, with the config's limits."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=config.max_connections, limit_per_host=0),
        timeout=aiohttp.ClientTimeout(
            total=None,
            connect=config.timeout,  # a free connection from the pool, or a new one
            sock_connect=config.connect_timeout,
            sock_read=config.timeout,
        ),
        # Not trust_env: aiohttp would then read the environment and ~/.netrc on every
        # request (a fifth of the client's CPU in BENCHMARKS.md); the proxy is looked up
        # once instead (`proxy_for`).
        trust_env=False,
    )


@asynccontextmanager
async def _translated(endpoint: str) -> AsyncIterator[None]:
    """The one boundary where aiohttp exceptions become ours."""
    try:
        yield
    except asyncio.TimeoutError as exc:  # aiohttp's timeouts subclass it
        raise timed_out(endpoint, exc) from exc
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError) as exc:
        raise unreachable(endpoint, exc) from exc
    except aiohttp.ClientError as exc:  # a malformed answer, a redirect loop: unusable
        raise unusable(endpoint, exc) from exc


class AiohttpTransport:
    """Requests to one base URL with fixed headers, on a session given or made on first use
    (inside the running event loop); `aclose` closes only a session it made."""

    def __init__(
        self,
        config: ClientConfig,
        headers: Mapping[str, str],
        session: Optional[aiohttp.ClientSession] = None,
        proxy: Optional[str] = None,
    ) -> None:
        self._config = config
        self._base = config.effective_base_url
        self._headers = dict(headers)
        self._proxy = proxy
        self.session = session
        self._owns_session = session is None

    async def request(
        self, method: str, path: str, content: Optional[bytes], endpoint: str
    ) -> Answer:
        """One exchange; raises APIConnectionError, APITimeoutError or PayloadError."""
        if self.session is None:
            self.session = pooled_session(self._config)
        async with _translated(endpoint), self.session.request(
            method,
            self._base + path,
            data=content,
            headers=self._headers,
            proxy=self._proxy,
            allow_redirects=False,  # a redirect would carry the keys to another host
        ) as response:
            return Answer(response.status, response.headers, await response.read())

    async def aclose(self) -> None:
        if self._owns_session and self.session is not None:
            await self.session.close()
