"""LoopMessageClient against a LoopMessage stand-in on 127.0.0.1: headers, bodies, retries, errors.

Every request goes through a real transport (the client's kept-alive connections, or an
aiohttp session) to a real server on loopback; failures are real too: a refused port, a
dropped connection, a stalled answer, a full accept queue, a full pool, a malformed or
truncated answer from a raw socket server. The failures run on both transports.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import socket
from typing import Any, AsyncIterator, Dict, Iterator, List, Optional, Tuple

import aiohttp
import httptools
import lm_samples as S
import pytest
from lm_standin import Call, LoopMessageStandIn, Reply, Reset, Stall, read_http_request
from pydantic import SecretStr

import rasa_imessage
from rasa_imessage.loopmessage import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ClientConfig,
    DeliveryError,
    InvalidRequestError,
    LoopMessageClient,
    LoopMessageError,
    PayloadError,
    RateLimitError,
    RecipientError,
    RetryPolicy,
    SendRequest,
    UnsupportedError,
    mask_contact,
)
from rasa_imessage.loopmessage._aiohttp_transport import AiohttpTransport, pooled_session
from rasa_imessage.loopmessage._connection import UndecodableBody
from rasa_imessage.loopmessage._transport import KeptAliveTransport

CURRENT_HOST = "https://a.loopmessage.com"
LEGACY_HOST = "https://server.loopmessage.com"
SEND = "/api/v1/message/send/"
TYPING = "/api/v1/message/show-typing/"
API_KEY = "org-key-123-DO-NOT-LEAK"
AUTH_KEY = "auth-key-456-DO-NOT-LEAK"
SECRET_KEY = "secret-key-789-DO-NOT-LEAK"
SECRETS = (API_KEY, AUTH_KEY, SECRET_KEY)
TEXT = "private message text"
FAST = 0.5  # seconds: the timeout of the tests that wait for one (room for a loaded CI)

CURRENT = ClientConfig(api_key=SecretStr(API_KEY), sender=S.SENDER_ID)
LEGACY = ClientConfig(
    api="legacy",
    authorization_key=SecretStr(AUTH_KEY),
    secret_key=SecretStr(SECRET_KEY),
    sender_name="brand@imsg.co",
)
OK = Reply(200, json=S.F2_CURRENT_SEND_OK)
# aiohttp >= 3.10 tells a read timeout from a connect timeout; 3.9 raises ServerTimeoutError.
READ_TIMEOUT = getattr(aiohttp, "SocketTimeoutError", aiohttp.ServerTimeoutError)
CONNECT_TIMEOUT = getattr(aiohttp, "ConnectionTimeoutError", aiohttp.ServerTimeoutError)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


class Sleeps(List[float]):
    """A fake asyncio.sleep that records the delays instead of waiting."""

    async def __call__(self, delay: float) -> None:
        self.append(delay)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch):
    """The client honours proxy variables (trust_env): none may divert these loopback tests."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
async def lm(lm):
    """conftest's stand-in; afterwards, no request may have gone to a path without a route."""
    yield lm
    assert [(call.method, call.path) for call in lm.unrouted] == []


def at(config: ClientConfig, base_url: str, **changes: Any) -> ClientConfig:
    return dataclasses.replace(config, base_url=base_url, **changes)


def client_at(
    config: ClientConfig, base_url: str, sleeps: Sleeps, session=None, **changes: Any
) -> LoopMessageClient:
    policy = RetryPolicy(sleep=sleeps, random=lambda: 1.0)
    return LoopMessageClient(at(config, base_url, **changes), session, retry=policy)


@pytest.fixture
async def current(lm, sleeps):
    async with client_at(CURRENT, lm.url, sleeps) as c:
        yield c


@pytest.fixture
async def legacy(lm, sleeps):
    async with client_at(LEGACY, lm.url, sleeps) as c:
        yield c


def text_request(**extra):
    return SendRequest.create(contact="+13231112233", text=TEXT, **extra)


def headers_of(call: Call) -> Dict[str, str]:
    """The request headers with lower-case names: HTTP header names ignore case."""
    return {name.lower(): value for name, value in call.headers.items()}


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def full_accept_queue() -> Iterator[str]:
    """A URL on 127.0.0.1 whose listener never accepts and whose queue is full.

    Linux drops a SYN for a full accept queue, so a connection attempt hangs as it does to
    a host that does not answer: a connect timeout, without leaving loopback.
    """
    listener = socket.socket()
    fillers: List[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        for _ in range(3):
            filler = socket.socket()
            fillers.append(filler)
            filler.setblocking(False)
            filler.connect_ex(address)
        yield f"http://127.0.0.1:{address[1]}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@contextlib.asynccontextmanager
async def raw_server(answer: bytes) -> AsyncIterator[str]:
    """A URL on 127.0.0.1 whose server reads a request and answers exactly `answer`, then closes."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await read_http_request(reader)  # all of it: unread data would make close a reset
            writer.write(answer)
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def test_current_send_headers_and_body(lm, current):
    route = lm.post(SEND).respond(200, json=S.F2_CURRENT_SEND_OK)
    result = await current.send_message(text_request(passthrough="corr-1"))
    assert route.call_count == 1
    call = route.calls[-1]
    headers = headers_of(call)
    assert (call.method, call.path) == ("POST", SEND)
    assert headers["authorization"] == API_KEY
    assert "loop-secret-key" not in headers
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"] == f"rasa-imessage/{rasa_imessage.__version__}"
    assert call.json == {
        "contact": "+13231112233",
        "text": TEXT,
        "sender": S.SENDER_ID,
        "passthrough": "corr-1",
    }
    assert (result.message_id, result.contact) == (S.MESSAGE_ID, "+13231112233")
    assert result.raw == S.F2_CURRENT_SEND_OK


async def test_messages_in_one_call_go_in_order_and_a_failure_stops_the_rest(lm, current):
    ok = {**S.F2_CURRENT_SEND_OK, "message_id": "M-first"}
    lm.post(SEND).queue(Reply(200, json=ok), Reply(400, json={"success": False, "code": 180}))
    texts = ["one", "two", "three"]
    sent = await current.send_messages(
        [SendRequest.create(contact="+13231112233", text=t) for t in texts]
    )
    assert [body["text"] for body in lm.sends()] == ["one", "two"]  # "three" never tried
    assert [result.message_id for result in sent.results] == ["M-first"]
    assert isinstance(sent.error, RecipientError)
    assert sent.error.code == 180


async def test_messages_in_one_call_all_accepted_have_no_error(lm, current):
    lm.post(SEND).respond(200, json=S.F2_CURRENT_SEND_OK)
    sent = await current.send_messages([text_request(), text_request()])
    assert len(sent.results) == 2
    assert sent.error is None
    assert (await current.send_messages([])).results == ()


async def test_legacy_send_headers_and_body(lm, legacy):
    route = lm.post(SEND).respond(200, json=S.F10_LEGACY_SEND_OK)
    result = await legacy.send_message(
        SendRequest.create(contact="+13231112233", reaction="emphasize", message_id="m1")
    )
    assert route.call_count == 1
    call = route.calls[-1]
    headers = headers_of(call)
    assert (call.method, call.path) == ("POST", SEND)
    assert headers["authorization"] == AUTH_KEY
    assert headers["loop-secret-key"] == SECRET_KEY
    assert headers["content-type"] == "application/json"
    assert call.json == {
        "recipient": "+13231112233",
        "text": "",
        "message_id": "m1",
        "reaction": "exclaim",
        "sender_name": "brand@imsg.co",
    }
    assert result.contact == "+13231112233"


async def test_base_url_override(lm):
    config = ClientConfig(api_key=SecretStr(API_KEY), base_url=lm.url + "/")
    route = lm.post(SEND).respond(200, json=S.F2_CURRENT_SEND_OK)
    async with LoopMessageClient(config) as client:
        await client.send_message(text_request())
    assert route.call_count == 1  # the trailing slash made no `//api/...` path
    assert [call.path for call in lm.calls] == [SEND]


async def test_an_accepted_reaction_without_a_message_id_is_not_a_failure(lm, current):
    route = lm.post(SEND).respond(200, json={})
    result = await current.send_message(
        SendRequest.create(contact="+1", reaction="love", message_id="m1")
    )
    assert result.message_id == ""
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("config", "raw_path", "path"),
    [
        (CURRENT, "/v1/message/status/A%2FB/", "/v1/message/status/A/B/"),
        (LEGACY, "/api/v1/message/status/A%2FB/", "/api/v1/message/status/A/B/"),
    ],
)
async def test_status_paths(lm, sleeps, config, raw_path, path):
    # The stand-in records the decoded path; what left the client, %2F and all, a trace sees.
    sent: List[Tuple[str, str]] = []

    async def on_request_start(session, context, params) -> None:
        sent.append((params.method, params.url.raw_path))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)  # type: ignore[arg-type]  # aiohttp 3.9 stubs
    route = lm.get(path).respond(200, json={"status": "delivered", "contact": "+1"})
    async with aiohttp.ClientSession(trace_configs=[trace]) as session, client_at(
        config, lm.url, sleeps, session
    ) as client:
        status = await client.get_status("A/B")
    assert sent == [("GET", raw_path)]
    assert route.call_count == 1
    assert route.calls[-1].method == "GET"
    headers = headers_of(route.calls[-1])
    if config.api == "current":
        assert headers["authorization"] == API_KEY
        assert "loop-secret-key" not in headers
    else:
        assert (headers["authorization"], headers["loop-secret-key"]) == (AUTH_KEY, SECRET_KEY)
    assert (status.message_id, status.status, status.api) == ("A/B", "delivered", config.api)


async def test_status_of_an_unknown_id_is_a_404_error(lm, current):
    route = lm.get("/v1/message/status/nope/").respond(404)
    with pytest.raises(APIError) as info:
        await current.get_status("nope")
    assert (info.value.status, info.value.code) == (404, None)
    assert info.value.meaning == "no message with that id"
    assert route.call_count == 1


async def test_status_400_uses_error_code(lm, current):
    lm.get("/v1/message/status/x/").respond(400, json={"error_code": 100, "message": "bad"})
    with pytest.raises(APIError) as info:
        await current.get_status("x")
    assert (info.value.status, info.value.code) == (400, 100)


async def test_status_refuses_an_empty_id(lm, current):
    with pytest.raises(InvalidRequestError):
        await current.get_status("")
    assert lm.calls == []


@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        ({"message_id": "m1", "seconds": 8}, {"message_id": "m1", "typing": 8, "read": True}),
        ({"message_id": "m1", "seconds": 600}, {"message_id": "m1", "typing": 60, "read": True}),
        ({"message_id": "m1", "seconds": 0}, {"message_id": "m1", "read": True}),
        ({"message_id": "m1", "seconds": -3}, {"message_id": "m1", "read": True}),
        (
            {"message_id": "m1", "seconds": 5, "read": False},
            {"message_id": "m1", "typing": 5, "read": False},
        ),
        (
            {"contact": "+13231112233"},
            {"contact": "+13231112233", "sender": S.SENDER_ID, "typing": 5, "read": True},
        ),
    ],
)
async def test_show_typing_bodies(lm, current, kwargs, body):
    route = lm.post(TYPING).respond(200, body=b"OK")
    await current.show_typing(**kwargs)
    assert route.call_count == 1
    assert route.calls[-1].json == body
    assert headers_of(route.calls[-1])["authorization"] == API_KEY


async def test_show_typing_with_nothing_to_show_sends_nothing(lm, current):
    route = lm.post(TYPING).respond(200)
    await current.show_typing(message_id="m1", seconds=0, read=False)
    assert route.call_count == 0
    assert lm.calls == []


async def test_show_typing_is_sample_f5(lm, current):
    route = lm.post(TYPING).respond(204)
    await current.show_typing(message_id=S.TARGET_ID, seconds=8)
    assert route.call_count == 1
    assert route.calls[-1].json == S.F5_CURRENT_TYPING_REQUEST


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({}, "message_id"), ({"message_id": "m", "contact": "+1"}, "message_id")],
)
async def test_show_typing_needs_one_target(lm, current, kwargs, field):
    with pytest.raises(InvalidRequestError) as info:
        await current.show_typing(**kwargs)
    assert info.value.field == field
    assert lm.calls == []


async def test_show_typing_by_contact_needs_a_sender(lm):
    config = ClientConfig(api_key=SecretStr(API_KEY), base_url=lm.url)
    async with LoopMessageClient(config) as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.show_typing(contact="+1")
    assert info.value.field == "sender"
    assert lm.calls == []


async def test_show_typing_on_legacy_is_unsupported(lm, legacy):
    with pytest.raises(UnsupportedError, match="typing"):
        await legacy.show_typing(message_id="m1")
    assert lm.calls == []


async def test_show_typing_errors_are_typed(lm, current):
    lm.post(TYPING).respond(400, json={"code": 595})
    with pytest.raises(APIError) as info:
        await current.show_typing(message_id="m1")
    assert info.value.code == 595


@pytest.mark.parametrize(
    ("first", "expected_sleeps"),
    [
        (Reply(500), [0.5]),
        (Reply(503, body=b"<html>busy</html>"), [0.5]),
        (Reset(), [0.5]),  # the connection dropped without an answer
        (Stall(5), [0.5]),  # no answer within the read timeout
        (Reply(400, json={"success": False, "code": 1010}), [0.5]),
        (Reply(400, json={"success": False, "code": 1000}), [0.5]),
        (Reply(429, headers={"Retry-After": "3"}), [3.0]),
        (Reply(429, headers={"retry-after-ms": "250"}), [0.25]),
        (Reply(429), [0.5]),
    ],
    ids=[
        "500",
        "503-html",
        "reset",
        "read-timeout",
        "1010",
        "1000",
        "429-retry-after",
        "429-retry-after-ms",
        "429",
    ],
)
async def test_retried_once_then_succeeds(lm, sleeps, first, expected_sleeps):
    route = lm.post(SEND).queue(first).respond(200, json=S.F2_CURRENT_SEND_OK)
    timeout = FAST if isinstance(first, Stall) else 10.0
    async with client_at(CURRENT, lm.url, sleeps, timeout=timeout) as client:
        result = await client.send_message(text_request())
    assert result.message_id == S.MESSAGE_ID
    assert route.call_count == 2
    assert route.calls[0].content == route.calls[1].content
    assert sleeps == expected_sleeps


async def test_every_attempt_sends_the_same_body(lm, current):
    route = lm.post(SEND).queue(Reply(500), Reset(), OK)
    await current.send_message(text_request(passthrough="corr-42"))
    bodies = [call.content for call in route.calls]
    assert len(bodies) == 3
    assert bodies[0] == bodies[1] == bodies[2]
    assert route.calls[0].json["passthrough"] == "corr-42"


@pytest.mark.parametrize(
    ("answer", "error_cls", "code"),
    [
        (Reply(400, json=S.F3_CURRENT_ERROR), RecipientError, 520),
        (Reply(400, json={"success": False, "code": 130}), AuthenticationError, 130),
        (Reply(400, json={"success": False, "code": 1020}), DeliveryError, 1020),
        (Reply(400, json={"success": False, "code": 550}), RateLimitError, 550),
        (Reply(401), AuthenticationError, None),
        (Reply(402, json={"success": False}), APIError, None),
        (Reply(429, headers={"Retry-After": "120"}), RateLimitError, None),
        (Reply(200, json=S.F3_CURRENT_ERROR), RecipientError, 520),
    ],
)
async def test_not_retried(lm, current, sleeps, answer, error_cls, code):
    route = lm.post(SEND).respond(
        answer.status, json=answer.json, body=answer.body, headers=answer.headers
    )
    with pytest.raises(error_cls) as info:
        await current.send_message(text_request())
    assert type(info.value) is error_cls
    assert info.value.code == code
    assert route.call_count == 1
    assert sleeps == []


async def test_retry_after_beyond_the_cap_gives_up_with_the_server_figure(lm, current):
    route = lm.post(SEND).respond(429, headers={"Retry-After": "120"})
    with pytest.raises(RateLimitError) as info:
        await current.send_message(text_request())
    assert info.value.retry_after == 120.0
    assert route.call_count == 1


# How each transport failure is arranged; what it must become, and the aiohttp cause.
# kind: (the error raised, its cause through aiohttp, its cause on kept-alive connections).
# A proxy always goes through aiohttp; a full pool of an aiohttp session is the session's.
FAILURES: Dict[str, Tuple[type, type, type]] = {
    "refused": (APIConnectionError, aiohttp.ClientConnectorError, ConnectionRefusedError),
    "reset": (APIConnectionError, aiohttp.ServerDisconnectedError, ConnectionResetError),
    "proxy-refused": (
        APIConnectionError,
        aiohttp.ClientProxyConnectionError,
        aiohttp.ClientProxyConnectionError,
    ),
    "truncated-body": (APIConnectionError, aiohttp.ClientPayloadError, ConnectionResetError),
    "undecodable-gzip": (APIConnectionError, aiohttp.ClientPayloadError, UndecodableBody),
    "read-timeout": (APITimeoutError, READ_TIMEOUT, asyncio.TimeoutError),
    "connect-timeout": (APITimeoutError, CONNECT_TIMEOUT, asyncio.TimeoutError),
    "pool-timeout": (APITimeoutError, CONNECT_TIMEOUT, CONNECT_TIMEOUT),
    "malformed-answer": (PayloadError, aiohttp.ClientResponseError, httptools.HttpParserError),
}
TRANSPORTS = ("kept-alive", "aiohttp")


async def arrange_failure(
    kind: str, lm: LoopMessageStandIn, stack: contextlib.AsyncExitStack, monkeypatch
) -> Tuple[str, Optional[aiohttp.ClientSession], Dict[str, Any]]:
    """The base_url, the session (None: the client's own) and config changes for `kind`."""
    if kind == "refused":
        return closed_port_url(), None, {}
    if kind == "reset":
        lm.post(SEND).handle(lambda call: Reset())
        return lm.url, None, {}
    if kind == "proxy-refused":
        monkeypatch.setenv("HTTP_PROXY", closed_port_url())
        return "http://loopmessage.test", None, {}
    if kind == "truncated-body":
        answer = b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"message_id"'
        return await stack.enter_async_context(raw_server(answer)), None, {}
    if kind == "undecodable-gzip":
        answer = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nabcd"
        return await stack.enter_async_context(raw_server(answer)), None, {}
    if kind == "malformed-answer":
        return await stack.enter_async_context(raw_server(b"garbage\r\n\r\n")), None, {}
    if kind == "read-timeout":
        lm.post(SEND).handle(lambda call: Stall(5))
        return lm.url, None, {"timeout": FAST}
    if kind == "connect-timeout":
        # connect_timeout, not timeout, bounds the TCP connect: the elapsed time shows which.
        return (
            stack.enter_context(full_accept_queue()),
            None,
            {"connect_timeout": FAST, "timeout": 5.0},
        )
    if kind == "pool-timeout":
        session = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1),
                timeout=aiohttp.ClientTimeout(total=None, connect=FAST),
            )
        )
        hold = lm.post("/hold").handle(lambda call: Stall(5))

        async def holding() -> None:
            async with session.post(lm.url + "/hold", timeout=aiohttp.ClientTimeout()) as answer:
                await answer.read()

        holder = asyncio.ensure_future(holding())

        async def release() -> None:
            holder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await holder

        stack.push_async_callback(release)
        for _ in range(200):  # the one connection is taken once the stand-in has the call
            if hold.called:
                break
            await asyncio.sleep(0.01)
        assert hold.called
        return lm.url, session, {}
    raise AssertionError(kind)


async def on_transport(
    transport: str, config: ClientConfig, stack: contextlib.AsyncExitStack
) -> Optional[aiohttp.ClientSession]:
    """The session for a client on `transport`: None keeps its own connections; "aiohttp"
    is the session that the client makes for itself when a proxy applies."""
    if transport == "kept-alive":
        return None
    pooled = pooled_session(config)
    return await stack.enter_async_context(pooled)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("kind", list(FAILURES))
async def test_no_transport_exception_escapes(lm, sleeps, monkeypatch, kind, transport):
    error_cls, through_aiohttp, kept_alive = FAILURES[kind]
    cause = through_aiohttp if transport == "aiohttp" else kept_alive
    async with contextlib.AsyncExitStack() as stack:
        url, session, changes = await arrange_failure(kind, lm, stack, monkeypatch)
        if session is None:
            session = await on_transport(transport, at(CURRENT, url, **changes), stack)
        async with client_at(CURRENT, url, sleeps, session, **changes) as client:
            with pytest.raises(LoopMessageError) as info:
                await client.send_message(text_request())
    assert type(info.value) is error_cls
    assert not isinstance(
        info.value, (aiohttp.ClientError, asyncio.TimeoutError, httptools.HttpParserError)
    )
    assert isinstance(info.value.__cause__, cause)
    # Failures to get an answer are retried; an unusable answer is not.
    assert sleeps == ([] if error_cls is PayloadError else [0.5, 1.0])
    for secret in (*SECRETS, TEXT, "+13231112233"):
        assert secret not in str(info.value)


# A host that never resolves (RFC 2606 .test): only a request through the proxy gets anywhere.
UNRESOLVABLE = "http://loopmessage.test"


async def test_a_proxy_from_the_environment_is_used(lm, sleeps, monkeypatch):
    route = lm.post(SEND).respond(200, json=S.F2_CURRENT_SEND_OK)
    monkeypatch.setenv("HTTP_PROXY", lm.url)
    async with client_at(CURRENT, UNRESOLVABLE, sleeps) as client:
        result = await client.send_message(text_request())
    assert result.message_id == S.MESSAGE_ID
    assert route.call_count == 1
    assert headers_of(route.calls[-1])["authorization"] == API_KEY
    assert sleeps == []


async def test_a_local_emulator_is_never_proxied(lm, sleeps, monkeypatch):
    route = lm.post(SEND).respond(200, json=S.F2_CURRENT_SEND_OK)
    monkeypatch.setenv("HTTP_PROXY", closed_port_url())  # a proxy that cannot be reached
    async with client_at(CURRENT, lm.url, sleeps) as client:
        await client.send_message(text_request())
    assert route.call_count == 1


def test_no_proxy_exempts_a_host(monkeypatch):
    from rasa_imessage.loopmessage._aiohttp_transport import proxy_for  # no request, no DNS

    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert proxy_for("https://a.loopmessage.com") == "http://127.0.0.1:3128"
    monkeypatch.setenv("NO_PROXY", "a.loopmessage.com")
    assert proxy_for("https://a.loopmessage.com") is None


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("kind", "error_cls"),
    [
        ("500", APIError),
        ("1010", DeliveryError),
        ("refused", APIConnectionError),
        ("reset", APIConnectionError),
        ("read-timeout", APITimeoutError),
        ("connect-timeout", APITimeoutError),
    ],
)
async def test_retries_exhausted_raise_the_last_typed_error(
    lm, sleeps, monkeypatch, kind, error_cls, transport
):
    route = lm.post(SEND)
    cause = None
    async with contextlib.AsyncExitStack() as stack:
        changes: Dict[str, Any]
        if kind == "500":
            route.respond(500)
            url, changes = lm.url, {}
        elif kind == "1010":
            route.respond(400, json={"success": False, "code": 1010})
            url, changes = lm.url, {}
        else:
            url, _, changes = await arrange_failure(kind, lm, stack, monkeypatch)
            cause = FAILURES[kind][1 if transport == "aiohttp" else 2]
        session = await on_transport(transport, at(CURRENT, url, **changes), stack)
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with client_at(CURRENT, url, sleeps, session, **changes) as client:
            with pytest.raises(error_cls) as info:
                await client.send_message(text_request())
        elapsed = loop.time() - started
    assert type(info.value) is error_cls
    assert sleeps == [0.5, 1.0]  # three attempts, two waits
    if url == lm.url:
        assert route.call_count == 3
    if cause is not None:
        assert isinstance(info.value.__cause__, cause)
    assert elapsed < 3.0  # each timeout is FAST: a 5 s one would take 15 s


async def test_max_retries_zero_means_one_attempt(lm, sleeps):
    route = lm.post(SEND).respond(500)
    policy = RetryPolicy(max_retries=0, sleep=sleeps)
    async with LoopMessageClient(at(CURRENT, lm.url), retry=policy) as client:
        with pytest.raises(APIError):
            await client.send_message(text_request())
    assert (route.call_count, sleeps) == (1, [])


async def test_a_bug_of_ours_fails_loudly_once(lm, sleeps):
    # Not an aiohttp error, raised inside the request once the answer is in: not retried.
    async def on_request_end(session, context, params) -> None:
        raise KeyError("bug")

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)  # type: ignore[arg-type]  # aiohttp 3.9 stubs
    route = lm.post(SEND).respond(200, json=S.F2_CURRENT_SEND_OK)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session, client_at(
        CURRENT, lm.url, sleeps, session
    ) as client:
        with pytest.raises(KeyError):
            await client.send_message(text_request())
    assert (route.call_count, sleeps) == (1, [])


@pytest.mark.parametrize(
    ("answer", "error_cls", "status"),
    [
        (Reply(400, body=b"Bad Request"), APIError, 400),
        (Reply(502, body=b"<html>Bad gateway</html>"), APIError, 502),
        (Reply(200, body=b"<html>OK</html>"), PayloadError, None),
        (Reply(200, json=["not", "an", "object"]), PayloadError, None),
        (Reply(200, json={"contact": "+1"}), PayloadError, None),
        (Reply(200, body=b"\xff\xfe"), PayloadError, None),
    ],
)
async def test_unusable_bodies(lm, current, answer, error_cls, status):
    route = lm.post(SEND).respond(answer.status, json=answer.json, body=answer.body)
    with pytest.raises(error_cls) as info:
        await current.send_message(text_request())
    assert type(info.value) is error_cls
    assert route.called
    if status is not None:
        assert (info.value.status, info.value.code) == (status, None)


async def test_a_redirect_is_not_followed(lm, sleeps):
    async with LoopMessageStandIn() as elsewhere:
        stolen = elsewhere.post(SEND).respond(200, json=S.F10_LEGACY_SEND_OK)
        route = lm.post(SEND).respond(307, headers={"Location": elsewhere.url + SEND})
        async with client_at(LEGACY, lm.url, sleeps) as client:
            with pytest.raises(APIError) as info:
                await client.send_message(text_request())
        assert elsewhere.calls == [] and not stolen.called
    assert info.value.status == 307
    assert route.call_count == 1


@pytest.mark.parametrize(("config", "limit"), [(CURRENT, 5), (LEGACY, 3)])
async def test_attachment_limit_per_generation(lm, config, limit):
    route = lm.post(SEND).respond(200, json=S.F2_CURRENT_SEND_OK)
    urls = [f"https://cdn.example.com/{i}.png" for i in range(limit + 1)]
    async with LoopMessageClient(at(config, lm.url)) as client:
        await client.send_message(SendRequest.create(contact="+1", attachments=urls[:limit]))
        with pytest.raises(InvalidRequestError) as info:
            await client.send_message(SendRequest.create(contact="+1", attachments=urls))
    assert info.value.field == "attachments"
    assert f"at most {limit}" in info.value.reason
    assert route.call_count == 1


async def test_lifecycle_through_a_proxy(lm, monkeypatch):
    route = lm.post(SEND).respond(200, json=S.F2_CURRENT_SEND_OK)
    monkeypatch.setenv("HTTP_PROXY", lm.url)  # a proxy: the client's own aiohttp session
    client = LoopMessageClient(at(CURRENT, UNRESOLVABLE))
    transport = client._transport
    assert isinstance(transport, AiohttpTransport)
    assert transport.session is None  # made on first use, inside the running loop
    async with client:
        await client.send_message(text_request())
        pool = transport.session
        assert isinstance(pool, aiohttp.ClientSession)
        assert pool.timeout == aiohttp.ClientTimeout(
            total=None, connect=10.0, sock_connect=5.0, sock_read=10.0
        )
        assert pool.connector is not None and pool.connector.limit == 100
        await client.send_message(text_request())
        assert transport.session is pool  # one pool for every request
        assert not pool.closed
    assert pool.closed  # made by the client, so closed by it
    assert route.call_count == 2
    with pytest.raises(RuntimeError, match="closed"):
        await client.send_message(text_request())
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_status("m")
    with pytest.raises(RuntimeError, match="closed"):
        await client.show_typing(message_id="m")
    assert len(lm.calls) == 2
    await client.aclose()  # closing twice is harmless
    assert "closed" in repr(client)


async def test_a_client_that_never_sent_opens_no_connection(lm):
    async with LoopMessageClient(at(CURRENT, lm.url)) as client:
        transport = client._transport
        assert isinstance(transport, KeptAliveTransport)
    assert transport._idle == [] and transport._slots is None  # never used
    assert "closed" in repr(client)
    assert lm.calls == []


async def test_a_given_session_is_used_and_left_open(lm):
    route = lm.post(SEND).respond(200, json=S.F2_CURRENT_SEND_OK)
    lm.get("/after").respond(200, json={})
    started: List[Tuple[str, str]] = []

    async def on_request_start(session, context, params) -> None:
        started.append((params.method, str(params.url)))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)  # type: ignore[arg-type]  # aiohttp 3.9 stubs
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        async with LoopMessageClient(at(CURRENT, lm.url), session) as client:
            await client.send_message(text_request())
        assert not session.closed
        async with session.get(lm.url + "/after") as answer:  # still usable
            assert answer.status == 200
    assert started == [("POST", lm.url + SEND), ("GET", lm.url + "/after")]
    assert route.call_count == 1


def test_config_validation_and_defaults():
    assert CURRENT.effective_base_url == CURRENT_HOST
    assert LEGACY.effective_base_url == LEGACY_HOST
    assert f"base_url={CURRENT_HOST!r}" in repr(LoopMessageClient(CURRENT))
    assert f"base_url={LEGACY_HOST!r}" in repr(LoopMessageClient(LEGACY))
    with pytest.raises(ValueError, match="'current' or 'legacy'"):
        ClientConfig(api="beta")
    for bad in ("a.loopmessage.com", "https://", "ftp://a.loopmessage.com"):
        with pytest.raises(ValueError, match="base_url"):
            ClientConfig(base_url=bad)
    with pytest.raises(ValueError, match="timeout"):
        ClientConfig(timeout=0)
    with pytest.raises(ValueError, match="api_key"):
        LoopMessageClient(ClientConfig())
    with pytest.raises(ValueError, match="authorization_key, secret_key, sender_name"):
        LoopMessageClient(ClientConfig(api="legacy"))


def test_plain_string_secrets_are_wrapped():
    config = ClientConfig(api_key=API_KEY)  # type: ignore[arg-type]
    assert isinstance(config.api_key, SecretStr)
    assert API_KEY not in repr(config)


def test_secrets_never_print():
    for config in (CURRENT, LEGACY):
        shown = repr(config) + str(config) + repr(LoopMessageClient(config))
        assert "'***'" in shown
        for secret in SECRETS:
            assert secret not in shown
    assert "sender_name='brand@imsg.co'" in repr(LEGACY)


@pytest.mark.parametrize("config", [CURRENT, LEGACY])
async def test_errors_and_logs_hold_no_secrets_or_text(lm, caplog, sleeps, config):
    caplog.set_level(logging.DEBUG, logger="rasa_imessage.loopmessage")
    route = lm.post(SEND).queue(
        Reply(500, json={"message": TEXT}),
        Reset(),
        Reply(400, json={"success": False, "code": 130, "message": TEXT}),
    )
    async with LoopMessageClient(at(config, lm.url), retry=RetryPolicy(sleep=sleeps)) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.send_message(text_request())
    assert route.call_count == 3
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "attempt 1: HTTP 500" in logged
    assert "attempt 2: APIConnectionError" in logged
    assert "attempt 3: HTTP 400, code 130" in logged
    assert "+1•••2233" in logged
    exposed = logged + str(info.value) + repr(info.value)
    for secret in (*SECRETS, TEXT, "+13231112233"):
        assert secret not in exposed


@pytest.mark.parametrize(
    ("contact", "masked"),
    [
        ("+13231231234", "+1•••1234"),
        ("+1 (323) 123-1234", "+1•••1234"),
        ("13231231234", "1•••1234"),
        ("john@icloud.com", "j•••@icloud.com"),
        ("2BC4FD6A-CE49-439F-81DF-E895C09CA49C", "2B•••9C"),
        ("short", "•••"),
        ("", "<none>"),
        (None, "<none>"),
    ],
)
def test_mask_contact(contact, masked):
    assert mask_contact(contact) == masked


# -- opt-in links ----------------------------------------------------------------------------

OPT_IN = "/api/v1/opt-in/generate-url/"
LINKS = {"id": "L-1", "imessage": "imessage://+13231110000&body=Hi%20AB12", "sms": "sms:x",
         "whatsapp": "whatsapp://send?text=Hi", "url": "https://opt-in.imsg.link/L-1"}  # fmt: skip


async def test_an_opt_in_link_carries_the_text_and_the_parameters_back(lm, current):
    route = lm.post(OPT_IN).respond(200, json=LINKS)
    links = await current.opt_in_links("Hi [opt-in-code]", {"utm_campaign": "spring"}, shared=True)
    assert (links.id, links.url, links.imessage) == ("L-1", LINKS["url"], LINKS["imessage"])
    assert route.calls[-1].json == {"body": "Hi [opt-in-code]", "utm_campaign": "spring",
                                    "sender_type": "shared"}  # fmt: skip
    assert route.calls[-1].headers["Authorization"] == API_KEY


@pytest.mark.parametrize(
    ("text", "parameters", "says"),
    [
        ("Hi there", {}, "must contain [opt-in-code]"),
        ("Hi [opt-in-code]", {"body": "x"}, "body is LoopMessage's own"),
        ("Hi [opt-in-code]", {"sender_type": "x"}, "sender_type is LoopMessage's own"),
    ],
)
async def test_an_opt_in_request_loopmessage_would_refuse_is_refused_here(
    lm, current, text, parameters, says
):
    with pytest.raises(InvalidRequestError, match=re.escape(says)):
        await current.opt_in_links(text, parameters)
    assert lm.calls == []


async def test_opt_in_links_need_the_current_api(lm, legacy):
    with pytest.raises(UnsupportedError, match="current API"):
        await legacy.opt_in_links("Hi [opt-in-code]")
    assert lm.calls == []


@pytest.mark.parametrize("body", [{"id": "L-1"}, {"url": "https://x"}, {}])
async def test_an_opt_in_answer_without_an_id_or_a_link_is_a_payload_error(lm, current, body):
    lm.post(OPT_IN).respond(200, json=body)
    with pytest.raises(PayloadError):
        await current.opt_in_links("Hi [opt-in-code]")


# -- the organization's senders --------------------------------------------------------------

SENDERS = "/api/v1/sender/list/"


def _page(number: int, pages: int, *ids: str) -> Reply:
    items = [{"id": i, "name": f"+1323555{n:04d}", "status": "active",
              "create_date": "2025-01-27T22:23:51Z", "imessage_link": "imessage://x"}
             for n, i in enumerate(ids)]  # fmt: skip
    return Reply(200, json={"page": number, "num_pages": pages, "per_page": 100,
                            "count": len(ids), "items": items})  # fmt: skip


async def test_the_sender_list_is_read_page_by_page(lm, current):
    route = lm.get(SENDERS).queue(_page(1, 2, "S-1", "S-2"), _page(2, 2, "S-3"))
    senders = await current.list_senders()
    assert [(s.id, s.status) for s in senders] == [("S-1", "active"), ("S-2", "active"),
                                                   ("S-3", "active")]  # fmt: skip
    assert [call.raw_path for call in route.calls] == [
        f"{SENDERS}?page=1&per_page=100", f"{SENDERS}?page=2&per_page=100"]  # fmt: skip


async def test_sender_items_without_an_id_are_left_out_and_no_items_is_a_payload_error(lm, current):
    lm.get(SENDERS).queue(
        Reply(200, json={"num_pages": 1, "items": [{"name": "x"}, {"id": "S-1"}, "junk"]}),
        Reply(200, json={"page": 1}),
    )
    assert [sender.id for sender in await current.list_senders()] == ["S-1"]
    with pytest.raises(PayloadError):
        await current.list_senders()


async def test_the_sender_list_needs_the_current_api(lm, legacy):
    with pytest.raises(UnsupportedError, match="current API"):
        await legacy.list_senders()
    assert lm.calls == []


async def test_a_sender_list_that_never_ends_is_read_to_a_bound(lm, current):
    route = lm.get(SENDERS).respond(200, json={"num_pages": 10**6, "items": [{"id": "S"}]})
    assert len(await current.list_senders()) == route.call_count == 50
