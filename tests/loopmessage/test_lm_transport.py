"""KeptAliveTransport against scripted servers on 127.0.0.1: reuse, limits, answers, failures.

Each server reads whole requests and answers each with the next bytes of its script, so
the tests see what went over the wire and how many connections carried it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ssl
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Iterator, List, Optional, Union

import pytest
import trustme
from lm_standin import read_http_request
from pydantic import SecretStr

from rasa_imessage.loopmessage import (
    APIConnectionError,
    APITimeoutError,
    ClientConfig,
    LoopMessageClient,
    PayloadError,
)
from rasa_imessage.loopmessage._connection import MAX_ANSWER_BYTES, AnswerTooLarge
from rasa_imessage.loopmessage._transport import KeptAliveTransport

KEY = "key-DO-NOT-LEAK"
HEADERS = {"Authorization": KEY, "Content-Type": "application/json"}
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
# A script step: bytes to answer, None to hold the request unanswered, or a function of the
# request's bytes (for answers that depend on it).
Step = Union[bytes, None, Callable[[bytes], bytes]]


@dataclass
class Scripted:
    """What a scripted server saw."""

    url: str
    requests: List[bytes] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    writers: List[asyncio.StreamWriter] = field(default_factory=list)
    tasks: List[asyncio.Task[None]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def scripted(
    *script: Step, close_after: bool = False, tls: Optional[ssl.SSLContext] = None
) -> AsyncIterator[Scripted]:
    """A server answering its requests, across all connections, with `script` in order
    (OK once it runs out); `close_after` closes each connection after its answer; `tls`
    serves HTTPS."""
    steps = list(script)
    seen = Scripted(url="")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        seen.open_now += 1
        seen.most_open = max(seen.most_open, seen.open_now)
        seen.writers.append(writer)
        seen.tasks.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while True:
                request = await read_http_request(reader)
                seen.requests.append(request)
                step = steps.pop(0) if steps else OK
                if step is None:
                    await asyncio.sleep(3600)
                    continue
                await asyncio.sleep(0.02)  # long enough for requests to overlap
                writer.write(step(request) if callable(step) else step)
                await writer.drain()
                if close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            seen.open_now -= 1
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    scheme = "https" if tls else "http"
    seen.url = f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield seen
    finally:
        server.close()
        for task in seen.tasks:
            task.cancel()
        await asyncio.gather(*seen.tasks, return_exceptions=True)


def transport(url: str, *, timeout: float = 5.0, max_connections: int = 100) -> KeptAliveTransport:
    config = ClientConfig(
        api_key=SecretStr(KEY), base_url=url, timeout=timeout, max_connections=max_connections
    )
    return KeptAliveTransport(config, HEADERS)


async def post(client: KeptAliveTransport, body: bytes = b'{"a": 1}', path: str = "/x/") -> bytes:
    answer = await client.request("POST", path, body, "send")
    return answer.body


async def test_one_connection_carries_every_request_in_turn():
    async with scripted() as server:
        client = transport(server.url)
        for _ in range(5):
            assert await post(client) == b"{}"
        await client.aclose()
    assert (server.connections, len(server.requests)) == (1, 5)


async def test_the_request_on_the_wire(monkeypatch):
    async with scripted() as server:
        client = transport(server.url + "/prefix/")
        await client.request("POST", "/api/v1/message/send/", b'{"text": "hi"}', "send")
        await client.request("GET", "/v1/message/status/A%2FB/", None, "status")
        await client.aclose()
    port = server.url.rsplit(":", 1)[1]
    post_head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = post_head.decode().split("\r\n")
    assert lines[0] == "POST /prefix/api/v1/message/send/ HTTP/1.1"
    assert set(lines[1:]) == {
        "Content-Length: 14",
        f"Host: 127.0.0.1:{port}",
        "Authorization: key-DO-NOT-LEAK",
        "Content-Type: application/json",
    }
    assert body == b'{"text": "hi"}'
    get_head = server.requests[1].decode()
    assert get_head.startswith("GET /prefix/v1/message/status/A%2FB/ HTTP/1.1\r\n")
    assert "Content-Length" not in get_head


async def test_no_more_connections_than_the_limit():
    async with scripted() as server:
        client = transport(server.url, max_connections=2)
        answers = await asyncio.gather(*(post(client) for _ in range(8)))
        await client.aclose()
    assert answers == [b"{}"] * 8
    assert (server.most_open, server.connections) == (2, 2)


async def test_waiting_for_a_connection_ends_with_the_timeout():
    async with scripted(None, None) as server:  # no request is answered
        client = transport(server.url, timeout=0.3, max_connections=1)
        first, second = asyncio.ensure_future(post(client)), asyncio.ensure_future(post(client))
        await asyncio.sleep(0.1)
        # The third waits behind both: the second takes the connection when the first times
        # out (0.3 s), and still holds it when the third's wait is over (0.4 s).
        with pytest.raises(APITimeoutError) as info:
            await post(client)
        assert isinstance(info.value.__cause__, asyncio.TimeoutError)
        assert len(server.requests) == 2  # the third never had a connection
        for pending in (first, second):
            with pytest.raises(APITimeoutError):
                await pending
        await client.aclose()


async def test_an_answer_that_closes_is_not_reused():
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    async with scripted(closing, closing, close_after=True) as server:
        client = transport(server.url)
        assert [await post(client), await post(client)] == [b"{}", b"{}"]
        await client.aclose()
    assert server.connections == 2


async def test_idle_connections_are_closed_after_the_keepalive(monkeypatch):
    monkeypatch.setattr("rasa_imessage.loopmessage._transport.KEEPALIVE", 0.3)
    async with scripted() as server:
        client = transport(server.url)
        await asyncio.gather(post(client), post(client))
        loop = asyncio.get_running_loop()
        idle_from = loop.time()
        assert server.open_now == 2
        while server.open_now and loop.time() - idle_from < 5.0:
            await asyncio.sleep(0.01)
        assert server.open_now == 0  # closed by the client, with no request to prompt it
        assert loop.time() - idle_from >= 0.3
        assert await post(client) == b"{}"  # on a new connection
        await client.aclose()
    assert server.connections == 3


@pytest.mark.parametrize(
    "disturb",
    [
        lambda writer: writer.close(),
        lambda writer: writer.write(OK),  # an answer to nothing: the connection is unsound
    ],
    ids=["closed-by-the-server", "bytes-nobody-asked-for"],
)
async def test_an_idle_connection_disturbed_is_replaced(disturb):
    async with scripted() as server:
        client = transport(server.url)
        await post(client)
        disturb(server.writers[0])
        await asyncio.sleep(0.1)  # what the server did reaches the client
        assert await post(client) == b"{}"
        await client.aclose()
    assert server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{"a": \r\n2\r\n1}\r\n0\r\n\r\n',
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(gzip.compress(b'{"a": 1}')), gzip.compress(b'{"a": 1}')),
        b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{"a": 1}',
        b'HTTP/1.0 200 OK\r\n\r\n{"a": 1}',  # no length: the body ends with the connection
    ],
    ids=["chunked", "gzip", "100-continue", "until-close"],
)
async def test_answers_in_every_framing(answer):
    async with scripted(answer, close_after=answer.startswith(b"HTTP/1.0")) as server:
        client = transport(server.url)
        assert await post(client) == b'{"a": 1}'
        await client.aclose()


async def test_headers_reach_the_caller_with_lower_case_names():
    answer = b"HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nContent-Length: 2\r\n\r\n{}"
    async with scripted(answer) as server:
        client = transport(server.url)
        got = await client.request("POST", "/x/", b"{}", "send")
        await client.aclose()
    assert (got.status, got.headers["retry-after"]) == (429, "3")


async def test_an_oversized_answer_is_unusable():
    size = MAX_ANSWER_BYTES + 1
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size
    async with scripted(answer) as server:
        client = transport(server.url)
        with pytest.raises(PayloadError) as info:
            await post(client)
        assert isinstance(info.value.__cause__, AnswerTooLarge)
        assert await post(client) == b"{}"  # on a new connection
        await client.aclose()
    assert server.connections == 2


async def test_a_cancelled_request_drops_its_connection():
    async with scripted(None) as server:
        client = transport(server.url)
        pending = asyncio.ensure_future(post(client))
        await asyncio.sleep(0.1)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        assert await post(client) == b"{}"  # its late answer cannot be taken for this one
        await client.aclose()
    assert server.connections == 2


@pytest.fixture
def certificate_authority(monkeypatch) -> Iterator[trustme.CA]:
    """A CA of the test's own that the transport trusts, as a system's CAs are trusted."""
    authority = trustme.CA()
    with authority.cert_pem.tempfile() as path:
        monkeypatch.setenv("SSL_CERT_FILE", path)  # read by ssl.create_default_context()
        yield authority


def serving_tls(authority: trustme.CA, host: str = "127.0.0.1") -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(host).configure_cert(context)
    return context


async def test_answers_over_tls_on_one_connection(certificate_authority):
    async with scripted(tls=serving_tls(certificate_authority)) as server:
        client = transport(server.url)
        assert [await post(client), await post(client)] == [b"{}", b"{}"]
        await client.aclose()
    assert (server.connections, len(server.requests)) == (1, 2)
    assert server.requests[0].startswith(b"POST /x/ HTTP/1.1\r\n")


async def test_a_certificate_for_another_host_is_refused(certificate_authority):
    async with scripted(tls=serving_tls(certificate_authority, "a.loopmessage.com")) as server:
        client = transport(server.url)
        with pytest.raises(APIConnectionError) as info:
            await post(client)
        await client.aclose()
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert server.requests == []  # nothing, keys included, went to a host it could not verify


async def test_tls_refused_is_a_connection_error():
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")  # no TLS spoken here
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = transport(f"https://127.0.0.1:{port}")
        with pytest.raises(APIConnectionError) as info:
            await post(client)
        assert isinstance(info.value.__cause__, ssl.SSLError)
        assert "DO-NOT-LEAK" not in str(info.value)
        await client.aclose()
    finally:
        server.close()


async def test_closed_transport_refuses_new_connections():
    async with scripted() as server:
        client = transport(server.url)
        await post(client)
        await client.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await post(client)
    assert server.connections == 1


LEGACY_KEYS = {"api": "legacy", "authorization_key": "a", "sender_name": "brand@imsg.co"}


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"base_url": "ftp://a.loopmessage.com"}, "https://"),
        ({"base_url": "https://"}, "with a host"),
        ({"base_url": "https://a.loopmessage.com:99999"}, "port"),
        ({"api_key": "key\r\nX-Injected: 1"}, "api_key contains a line break"),
        ({**LEGACY_KEYS, "secret_key": "s\x00X-Injected"}, "secret_key contains a line break"),
    ],
)
def test_a_config_the_transport_could_not_carry_is_refused_at_once(fields, match):
    # The transport trusts its ClientConfig; the config is where a bad URL or a secret no
    # header can carry is refused, for every transport.
    with pytest.raises(ValueError, match=match) as info:
        ClientConfig(**{"api_key": KEY, **fields})
    assert "X-Injected" not in str(info.value) and KEY not in str(info.value)


async def test_the_client_keeps_its_connections_and_closes_them(lm):
    lm.post("/api/v1/message/send/").respond(200, json={"message_id": "M", "success": True})
    config = ClientConfig(api_key="org-key", base_url=lm.url)  # type: ignore[arg-type]
    client = LoopMessageClient(config)
    kept = client._transport
    assert isinstance(kept, KeptAliveTransport)  # no aiohttp session without a proxy
    from rasa_imessage.loopmessage import SendRequest

    async with client:
        for _ in range(3):
            await client.send_message(SendRequest.create(contact="+13231112233", text="hi"))
        assert len(kept._idle) == 1  # one connection, back in the pool
        connection = kept._idle[0]
    assert connection.closed and kept._idle == []
