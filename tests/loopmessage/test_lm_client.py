"""LoopMessageClient against respx-mocked LoopMessage hosts: headers, bodies, retries, errors."""

from __future__ import annotations

import json
import logging

import httpx
import lm_samples as S
import pytest
import respx
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

CURRENT_HOST = "https://a.loopmessage.com"
LEGACY_HOST = "https://server.loopmessage.com"
SEND = "/api/v1/message/send/"
API_KEY = "org-key-123-DO-NOT-LEAK"
AUTH_KEY = "auth-key-456-DO-NOT-LEAK"
SECRET_KEY = "secret-key-789-DO-NOT-LEAK"
SECRETS = (API_KEY, AUTH_KEY, SECRET_KEY)
TEXT = "private message text"

CURRENT = ClientConfig(api_key=SecretStr(API_KEY), sender=S.SENDER_ID)
LEGACY = ClientConfig(
    api="legacy",
    authorization_key=SecretStr(AUTH_KEY),
    secret_key=SecretStr(SECRET_KEY),
    sender_name="brand@imsg.co",
)
OK = httpx.Response(200, json=S.F2_CURRENT_SEND_OK)


class Sleeps(list):
    """A fake asyncio.sleep that records the delays instead of waiting."""

    async def __call__(self, delay: float) -> None:
        self.append(delay)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def mock():
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
async def current(sleeps):
    async with LoopMessageClient(CURRENT, retry=RetryPolicy(sleep=sleeps, random=lambda: 1.0)) as c:
        yield c


@pytest.fixture
async def legacy(sleeps):
    async with LoopMessageClient(LEGACY, retry=RetryPolicy(sleep=sleeps, random=lambda: 1.0)) as c:
        yield c


def text_request(**extra):
    return SendRequest.create(contact="+13231112233", text=TEXT, **extra)


async def test_current_send_headers_and_body(mock, current):
    route = mock.post(CURRENT_HOST + SEND).mock(return_value=OK)
    result = await current.send_message(text_request(passthrough="corr-1"))
    request = route.calls.last.request
    assert request.headers["Authorization"] == API_KEY
    assert "Loop-Secret-Key" not in request.headers
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"rasa-imessage/{rasa_imessage.__version__}"
    assert json.loads(request.content) == {
        "contact": "+13231112233",
        "text": TEXT,
        "sender": S.SENDER_ID,
        "passthrough": "corr-1",
    }
    assert (result.message_id, result.contact) == (S.MESSAGE_ID, "+13231112233")
    assert result.raw == S.F2_CURRENT_SEND_OK


async def test_legacy_send_headers_and_body(mock, legacy):
    route = mock.post(LEGACY_HOST + SEND).mock(
        return_value=httpx.Response(200, json=S.F10_LEGACY_SEND_OK)
    )
    result = await legacy.send_message(
        SendRequest.create(contact="+13231112233", reaction="emphasize", message_id="m1")
    )
    request = route.calls.last.request
    assert request.headers["Authorization"] == AUTH_KEY
    assert request.headers["Loop-Secret-Key"] == SECRET_KEY
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "recipient": "+13231112233",
        "text": "",
        "message_id": "m1",
        "reaction": "exclaim",
        "sender_name": "brand@imsg.co",
    }
    assert result.contact == "+13231112233"


async def test_base_url_override(mock, sleeps):
    config = ClientConfig(api_key=SecretStr(API_KEY), base_url="http://127.0.0.1:8765/")
    route = mock.post("http://127.0.0.1:8765" + SEND).mock(return_value=OK)
    async with LoopMessageClient(config) as client:
        await client.send_message(text_request())
    assert route.call_count == 1


async def test_an_accepted_reaction_without_a_message_id_is_not_a_failure(mock, current):
    mock.post(CURRENT_HOST + SEND).mock(return_value=httpx.Response(200, json={}))
    result = await current.send_message(
        SendRequest.create(contact="+1", reaction="love", message_id="m1")
    )
    assert result.message_id == ""


@pytest.mark.parametrize(
    ("config", "host", "path"),
    [
        (CURRENT, CURRENT_HOST, "/v1/message/status/A%2FB/"),
        (LEGACY, LEGACY_HOST, "/api/v1/message/status/A%2FB/"),
    ],
)
async def test_status_paths(mock, config, host, path):
    route = mock.get(host + path).mock(
        return_value=httpx.Response(200, json={"status": "delivered", "contact": "+1"})
    )
    async with LoopMessageClient(config) as client:
        status = await client.get_status("A/B")
    assert route.call_count == 1
    assert route.calls.last.request.method == "GET"
    assert (status.message_id, status.status, status.api) == ("A/B", "delivered", config.api)


async def test_status_of_an_unknown_id_is_a_404_error(mock, current):
    mock.get(CURRENT_HOST + "/v1/message/status/nope/").mock(return_value=httpx.Response(404))
    with pytest.raises(APIError) as info:
        await current.get_status("nope")
    assert (info.value.status, info.value.code) == (404, None)
    assert info.value.meaning == "no message with that id"


async def test_status_400_uses_error_code(mock, current):
    mock.get(CURRENT_HOST + "/v1/message/status/x/").mock(
        return_value=httpx.Response(400, json={"error_code": 100, "message": "bad"})
    )
    with pytest.raises(APIError) as info:
        await current.get_status("x")
    assert (info.value.status, info.value.code) == (400, 100)


async def test_status_refuses_an_empty_id(current):
    with pytest.raises(InvalidRequestError):
        await current.get_status("")


TYPING = CURRENT_HOST + "/api/v1/message/show-typing/"


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
async def test_show_typing_bodies(mock, current, kwargs, body):
    route = mock.post(TYPING).mock(return_value=httpx.Response(200, text="OK"))
    await current.show_typing(**kwargs)
    assert json.loads(route.calls.last.request.content) == body
    assert route.calls.last.request.headers["Authorization"] == API_KEY


async def test_show_typing_with_nothing_to_show_sends_nothing(mock, current):
    route = mock.post(TYPING).mock(return_value=httpx.Response(200))
    await current.show_typing(message_id="m1", seconds=0, read=False)
    assert route.call_count == 0


async def test_show_typing_is_sample_f5(mock, current):
    route = mock.post(TYPING).mock(return_value=httpx.Response(204))
    await current.show_typing(message_id=S.TARGET_ID, seconds=8)
    assert json.loads(route.calls.last.request.content) == S.F5_CURRENT_TYPING_REQUEST


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({}, "message_id"), ({"message_id": "m", "contact": "+1"}, "message_id")],
)
async def test_show_typing_needs_one_target(current, kwargs, field):
    with pytest.raises(InvalidRequestError) as info:
        await current.show_typing(**kwargs)
    assert info.value.field == field


async def test_show_typing_by_contact_needs_a_sender(mock):
    async with LoopMessageClient(ClientConfig(api_key=SecretStr(API_KEY))) as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.show_typing(contact="+1")
    assert info.value.field == "sender"


async def test_show_typing_on_legacy_is_unsupported(legacy):
    with pytest.raises(UnsupportedError, match="typing"):
        await legacy.show_typing(message_id="m1")


async def test_show_typing_errors_are_typed(mock, current):
    mock.post(TYPING).mock(return_value=httpx.Response(400, json={"code": 595}))
    with pytest.raises(APIError) as info:
        await current.show_typing(message_id="m1")
    assert info.value.code == 595


@pytest.mark.parametrize(
    ("first", "expected_sleeps"),
    [
        (httpx.Response(500), [0.5]),
        (httpx.Response(503, text="<html>busy</html>"), [0.5]),
        (httpx.ConnectError, [0.5]),
        (httpx.ReadTimeout, [0.5]),
        (httpx.RemoteProtocolError, [0.5]),
        (httpx.Response(400, json={"success": False, "code": 1010}), [0.5]),
        (httpx.Response(400, json={"success": False, "code": 1000}), [0.5]),
        (httpx.Response(429, headers={"Retry-After": "3"}), [3.0]),
        (httpx.Response(429, headers={"retry-after-ms": "250"}), [0.25]),
        (httpx.Response(429), [0.5]),
    ],
)
async def test_retried_once_then_succeeds(mock, current, sleeps, first, expected_sleeps):
    route = mock.post(CURRENT_HOST + SEND).mock(side_effect=[first, OK])
    result = await current.send_message(text_request())
    assert result.message_id == S.MESSAGE_ID
    assert route.call_count == 2
    assert sleeps == expected_sleeps


async def test_every_attempt_sends_the_same_body(mock, current):
    route = mock.post(CURRENT_HOST + SEND).mock(
        side_effect=[httpx.Response(500), httpx.ConnectError, OK]
    )
    await current.send_message(text_request(passthrough="corr-42"))
    bodies = [call.request.content for call in route.calls]
    assert len(bodies) == 3
    assert bodies[0] == bodies[1] == bodies[2]
    assert json.loads(bodies[0])["passthrough"] == "corr-42"


@pytest.mark.parametrize(
    ("answer", "error_cls", "code"),
    [
        (httpx.Response(400, json=S.F3_CURRENT_ERROR), RecipientError, 520),
        (httpx.Response(400, json={"success": False, "code": 130}), AuthenticationError, 130),
        (httpx.Response(400, json={"success": False, "code": 1020}), DeliveryError, 1020),
        (httpx.Response(400, json={"success": False, "code": 550}), RateLimitError, 550),
        (httpx.Response(401), AuthenticationError, None),
        (httpx.Response(402, json={"success": False}), APIError, None),
        (httpx.Response(429, headers={"Retry-After": "120"}), RateLimitError, None),
        (httpx.Response(200, json=S.F3_CURRENT_ERROR), RecipientError, 520),
    ],
)
async def test_not_retried(mock, current, sleeps, answer, error_cls, code):
    route = mock.post(CURRENT_HOST + SEND).mock(return_value=answer)
    with pytest.raises(error_cls) as info:
        await current.send_message(text_request())
    assert type(info.value) is error_cls
    assert info.value.code == code
    assert route.call_count == 1
    assert sleeps == []


async def test_retry_after_beyond_the_cap_gives_up_with_the_server_figure(mock, current):
    mock.post(CURRENT_HOST + SEND).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "120"})
    )
    with pytest.raises(RateLimitError) as info:
        await current.send_message(text_request())
    assert info.value.retry_after == 120.0


@pytest.mark.parametrize(
    ("answer", "error_cls", "cause"),
    [
        (httpx.Response(500), APIError, None),
        (httpx.Response(400, json={"success": False, "code": 1010}), DeliveryError, None),
        (httpx.ConnectError, APIConnectionError, httpx.ConnectError),
        (httpx.ReadTimeout, APITimeoutError, httpx.ReadTimeout),
        (httpx.ConnectTimeout, APITimeoutError, httpx.ConnectTimeout),
    ],
)
async def test_retries_exhausted_raise_the_last_typed_error(
    mock, current, sleeps, answer, error_cls, cause
):
    route = mock.post(CURRENT_HOST + SEND).mock(side_effect=[answer] * 3)
    with pytest.raises(error_cls) as info:
        await current.send_message(text_request())
    assert type(info.value) is error_cls
    assert route.call_count == 3
    assert sleeps == [0.5, 1.0]
    if cause is not None:
        assert isinstance(info.value.__cause__, cause)


async def test_max_retries_zero_means_one_attempt(mock, sleeps):
    route = mock.post(CURRENT_HOST + SEND).mock(return_value=httpx.Response(500))
    policy = RetryPolicy(max_retries=0, sleep=sleeps)
    async with LoopMessageClient(CURRENT, retry=policy) as client:
        with pytest.raises(APIError):
            await client.send_message(text_request())
    assert (route.call_count, sleeps) == (1, [])


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError,
        httpx.ReadError,
        httpx.WriteError,
        httpx.RemoteProtocolError,
        httpx.LocalProtocolError,
        httpx.ProxyError,
        httpx.UnsupportedProtocol,
        httpx.ConnectTimeout,
        httpx.ReadTimeout,
        httpx.WriteTimeout,
        httpx.PoolTimeout,
        httpx.DecodingError,
        httpx.TooManyRedirects,
    ],
)
async def test_no_httpx_exception_escapes(mock, current, exc):
    mock.post(CURRENT_HOST + SEND).mock(side_effect=exc)
    with pytest.raises(LoopMessageError) as info:
        await current.send_message(text_request())
    assert not isinstance(info.value, httpx.HTTPError)
    assert isinstance(info.value.__cause__, exc)


async def test_a_bug_of_ours_fails_loudly_once(mock, current, sleeps):
    route = mock.post(CURRENT_HOST + SEND).mock(side_effect=KeyError("bug"))
    with pytest.raises(KeyError):
        await current.send_message(text_request())
    assert (route.call_count, sleeps) == (1, [])


@pytest.mark.parametrize(
    ("answer", "error_cls", "status"),
    [
        (httpx.Response(400, text="Bad Request"), APIError, 400),
        (httpx.Response(502, text="<html>Bad gateway</html>"), APIError, 502),
        (httpx.Response(200, text="<html>OK</html>"), PayloadError, None),
        (httpx.Response(200, json=["not", "an", "object"]), PayloadError, None),
        (httpx.Response(200, json={"contact": "+1"}), PayloadError, None),
        (httpx.Response(200, content=b"\xff\xfe"), PayloadError, None),
    ],
)
async def test_unusable_bodies(mock, current, answer, error_cls, status):
    mock.post(CURRENT_HOST + SEND).mock(side_effect=[answer] * 3)
    with pytest.raises(error_cls) as info:
        await current.send_message(text_request())
    if status is not None:
        assert (info.value.status, info.value.code) == (status, None)


@pytest.mark.parametrize(("config", "limit"), [(CURRENT, 5), (LEGACY, 3)])
async def test_attachment_limit_per_generation(mock, config, limit):
    host = CURRENT_HOST if config.api == "current" else LEGACY_HOST
    route = mock.post(host + SEND).mock(return_value=OK)
    urls = [f"https://cdn.example.com/{i}.png" for i in range(limit + 1)]
    async with LoopMessageClient(config) as client:
        await client.send_message(SendRequest.create(contact="+1", attachments=urls[:limit]))
        with pytest.raises(InvalidRequestError) as info:
            await client.send_message(SendRequest.create(contact="+1", attachments=urls))
    assert info.value.field == "attachments"
    assert f"at most {limit}" in info.value.reason
    assert route.call_count == 1


async def test_lifecycle(mock):
    mock.post(CURRENT_HOST + SEND).mock(return_value=OK)
    client = LoopMessageClient(CURRENT)
    pool = client._http
    assert pool.timeout == httpx.Timeout(10.0, connect=5.0)
    async with client:
        await client.send_message(text_request())
    assert pool.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.send_message(text_request())
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_status("m")
    await client.aclose()  # closing twice is harmless
    assert "closed" in repr(client)


async def test_a_given_http_client_is_used_and_left_open(mock):
    route = mock.post(CURRENT_HOST + SEND).mock(return_value=OK)
    async with httpx.AsyncClient() as http:
        async with LoopMessageClient(CURRENT, http) as client:
            await client.send_message(text_request())
        assert not http.is_closed
    assert route.call_count == 1


def test_config_validation_and_defaults():
    assert CURRENT.effective_base_url == CURRENT_HOST
    assert LEGACY.effective_base_url == LEGACY_HOST
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


@pytest.mark.parametrize(("config", "host"), [(CURRENT, CURRENT_HOST), (LEGACY, LEGACY_HOST)])
async def test_errors_and_logs_hold_no_secrets_or_text(mock, caplog, sleeps, config, host):
    caplog.set_level(logging.DEBUG, logger="rasa_imessage.loopmessage")
    mock.post(host + SEND).mock(
        side_effect=[
            httpx.Response(500, json={"message": TEXT}),
            httpx.ConnectError,
            httpx.Response(400, json={"success": False, "code": 130, "message": TEXT}),
        ]
    )
    async with LoopMessageClient(config, retry=RetryPolicy(sleep=sleeps)) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.send_message(text_request())
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
