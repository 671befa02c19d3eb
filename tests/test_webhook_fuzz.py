"""Fuzzing the webhook endpoint through Rasa's own app: no input gets a 500 or leaves work behind.

Random JSON, mutated LoopMessage webhooks of both generations, wrong types, huge strings,
deep nesting, invalid UTF-8, wrong content types and oversized bodies go through
`configure_app`'s ASGI app, and again through `webhook_port`'s process over HTTP. The
properties: every answer is a 200, or a 4xx whose JSON body
names the reason on one line; no turn crashes (the runner logs a crash as an ERROR); once the
turns are joined, nothing is pending and no task is left behind. The turns' replies go to
the LoopMessage stand-in on 127.0.0.1, served from a thread of its own (see ServedAppThread).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pytest.importorskip("rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'")
from channel_kit import AUTH, FIXED_FUZZ, ServedAppThread
from lm_standin import SEND_PATH, TYPING_PATH, LoopMessageStandIn

from rasa_imessage.rasa_process import free_port

pytestmark = pytest.mark.rasa

Poster = Callable[..., Any]  # (content, headers) -> the response

MAX_BODY = 4096
REFUSALS = {400: "bad body", 401: "auth", 413: "too large"}

SAMPLES: List[Dict[str, Any]] = [
    {"event": "message_inbound", "contact": "+13231112233", "text": "hi", "message_type": "text",
     "channel": "imessage", "message_id": "M1", "webhook_id": "W1", "api_version": "1.0"},
    {"event": "message_inbound", "contact": "jane@icloud.com", "text": "", "message_id": "M2",
     "webhook_id": "W2", "message_type": "attachments",
     "attachments": ["https://cdn.example.com/a.heic", "https://cdn.example.com/b.mov"]},
    {"event": "message_inbound", "contact": "+13231112233", "text": "pizza?", "message_id": "M3",
     "webhook_id": "W3", "group": {"id": "G1", "name": "Dinner",
                                   "participants": ["+13231112233", "+13233332211"]}},
    {"event": "message_inbound", "contact": "+13231112233", "message_type": "audio",
     "attachments": ["https://cdn.example.com/n.caf"], "message_id": "M4", "webhook_id": "W4",
     "speech": {"text": "send a picture", "language": {"code": "en"},
                "metadata": {"speaking_rate": 140.5}}},
    {"event": "message_reaction", "contact": "+13231112233", "reaction": "love",
     "message_id": "O1", "webhook_id": "W5", "message_type": "reaction"},
    {"event": "message_failed", "contact": "+13231112233", "message_id": "O2",
     "error_code": 1020, "webhook_id": "W6", "passthrough": '{"rasa_imessage":1}'},
    {"event": "message_delivered", "contact": "+13231112233", "message_id": "O3",
     "webhook_id": "W7"},
    {"event": "opt-in", "contact": "+13231112233", "webhook_id": "W8",
     "organization_id": "org", "parameters": {"source": "qr"}},
    {"event": "sender_name_updated", "organization_id": "org", "sender": "s1",
     "status": "active", "webhook_id": "W9"},
    {"alert_type": "message_inbound", "recipient": "+13231112233", "text": "hello",
     "message_type": "text", "delivery_type": "imessage", "sender_name": "bot@imsg.co",
     "message_id": "L1", "webhook_id": "W10", "api_version": "1.0"},
    {"alert_type": "message_reaction", "recipient": "+13231112233", "reaction": "exclaim",
     "message_id": "L2", "webhook_id": "W11"},
    {"alert_type": "message_sent", "recipient": "+13231112233", "success": False,
     "message_id": "L3", "webhook_id": "W12"},
    {"alert_type": "message_timeout", "recipient": "+13231112233", "error_code": 130,
     "message_id": "L4", "webhook_id": "W13"},
    {"alert_type": "group_created", "group_id": "G2", "webhook_id": "W14"},
]  # fmt: skip

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(sorted({key for body in SAMPLES for key in body})) | ANY_TEXT
HUGE = st.builds(lambda char, size: char * size, st.sampled_from("x€😀\x00"), st.integers(0, 6000))
DEEP = st.builds(
    lambda n, pair: pair[0] * n + "1" + pair[1] * n,
    st.integers(1, 30000),
    st.sampled_from([("[", "]"), ('{"a":', "}")]),
)


def _deep_text(n: int) -> str:
    return "[" * n + "]" * n


@st.composite
def mutated(draw: st.DrawFn) -> Dict[str, Any]:
    """A real webhook with fields dropped, retyped, grown or added."""
    body = dict(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["drop", "retype", "huge", "add", "nest"]))
        key = draw(st.sampled_from(sorted(body)) if body and action != "add" else KEYS)
        if action == "drop":
            body.pop(key, None)
        elif action == "retype" or action == "add":
            body[key] = draw(JSON)
        elif action == "huge":
            body[key] = draw(HUGE)
        else:
            body[key] = json.loads(_deep_text(draw(st.integers(1, 200))))
    return body


@st.composite
def raw_bytes(draw: st.DrawFn) -> bytes:
    """Bodies no JSON encoder makes: broken UTF-8, truncation, deep nesting, plain noise."""
    text = json.dumps(draw(st.sampled_from(SAMPLES)), ensure_ascii=False).encode()
    choice = draw(st.sampled_from(["splice", "truncate", "deep", "noise", "bom", "deep_value"]))
    if choice == "splice":
        at = draw(st.integers(0, len(text)))
        bad = draw(
            st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00"])
        )
        return text[:at] + bad + text[at:]
    if choice == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))]
    if choice == "deep":
        deep: str = draw(DEEP)
        return deep.encode()
    if choice == "bom":
        return b"\xef\xbb\xbf" + text
    if choice == "deep_value":
        return (
            b'{"event": "message_inbound", "contact": "+13231112233", "text": '
            + _deep_text(draw(st.integers(900, 5000))).encode()
            + b"}"
        )
    return draw(st.binary(max_size=300))


CONTENT_TYPES = st.sampled_from(
    [None, "application/json", "text/plain", "application/x-www-form-urlencoded",
     "multipart/form-data; boundary=xyz", "application/json; charset=latin-1", "image/png"]
)  # fmt: skip
AUTH_HEADERS = st.one_of(
    st.just(AUTH),
    st.just(AUTH),
    st.binary(max_size=40).filter(lambda b: not set(b) & {0, 10, 13}),
    st.just(AUTH + " "),
    st.just("Bearer " + AUTH),
)
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=FIXED_FUZZ,
    database=None,
)


class Errors(logging.Handler):
    """Collects ERROR records: a turn that crashed, a request Sanic could not handle."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module", params=["rasa's port", "webhook_port"])
def endpoint(
    request: pytest.FixtureRequest, figures_log: Any
) -> Iterator[Tuple[Poster, Any, Any, Errors, Dict[int, int]]]:
    errors = Errors()
    logging.getLogger().addHandler(errors)
    lm = LoopMessageStandIn()
    lm.post(SEND_PATH).respond(200, json={"message_id": "OUT"})
    lm.post(TYPING_PATH).respond(200, json={})
    settings: Dict[str, Any] = {"max_body_bytes": MAX_BODY}
    if request.param == "webhook_port":
        settings.update(webhook_port=free_port(), webhook_host="127.0.0.1")
    with ServedAppThread(settings, lm=lm) as (served, channel, bot), httpx.Client() as http:
        statuses: Dict[int, int] = {}
        front = channel._front
        if front is None:
            poster: Poster = served.post
        else:
            url = f"http://127.0.0.1:{front.port}/webhooks/imessage/webhook"

            def poster(content: Any, headers: Optional[Dict[str, Any]] = None) -> Any:
                try:
                    return http.post(url, content=content, headers=headers or {})
                except httpx.LocalProtocolError:  # a header no client can put on the wire
                    assume(False)

        yield poster, channel, bot, errors, statuses
        served.run(channel.turns.join())
        served.run(_side_tasks_done(channel))
        assert channel.turns.pending == 0 and channel.turns.conversations == 0
        assert not channel.conversations.side_tasks
        own = len(front._tasks) if front is not None else 0  # its reports, its supervisor
        assert served.run(_other_tasks()) == own, "tasks left behind on the app's loop"
    logging.getLogger().removeHandler(errors)
    assert lm.sends() and not lm.unrouted  # the turns' replies reached the stand-in
    unanswered = [r.getMessage() for r in errors.records if r.name == "rasa_imessage.outbound"
                  and ("could not reach" in r.getMessage() or "in time" in r.getMessage())]  # fmt: skip
    assert unanswered == [], unanswered  # every send got the stand-in's answer
    crashes = [r.getMessage() for r in errors.records if r.name != "rasa_imessage.outbound"]
    assert crashes == [], crashes
    figures_log(
        f"webhook fuzzing on {request.param}",
        requests=sum(statuses.values()),
        **{f"answered_{status}": count for status, count in sorted(statuses.items())},
        answered_500=0,
        turns_left=0,
    )


async def _side_tasks_done(channel: Any) -> None:
    import asyncio

    if channel.conversations.side_tasks:
        await asyncio.gather(*channel.conversations.side_tasks, return_exceptions=True)


async def _other_tasks() -> int:
    import asyncio

    return len(asyncio.all_tasks() - {asyncio.current_task()})


def check(endpoint: Any, content: Any, headers: Optional[Dict[str, Any]] = None) -> int:
    post, _, _, _, statuses = endpoint
    response = post(content, headers={"Authorization": AUTH, **(headers or {})})
    status = response.status_code
    statuses[status] = statuses.get(status, 0) + 1
    assert status in (200, 409, *REFUSALS), (status, response.text[:300])
    body = response.json()
    if status in (200, 409) and "error" not in body:
        assert body["status"] in ("ok", "duplicate")
    else:
        reason = body["error"]
        assert isinstance(reason, str) and reason.strip() and "\n" not in reason
        assert len(reason) <= 300
    return int(status)


@FUZZ
@given(value=JSON)
def test_any_json_value_is_answered_without_a_500(endpoint, value):
    check(endpoint, json.dumps(value))


@FUZZ
@given(body=mutated(), content_type=CONTENT_TYPES)
def test_mutated_webhooks_are_answered_without_a_500(endpoint, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    # A lone surrogate in a string goes as its (invalid) UTF-8 bytes, as a broken client's
    # would: the server must answer it too. `.encode()` would fail here, in the test.
    content = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    status = check(endpoint, content, headers)
    if len(content) > MAX_BODY:
        assert status == 413


@FUZZ
@given(content=raw_bytes(), content_type=CONTENT_TYPES)
def test_broken_bytes_are_answered_without_a_500(endpoint, content, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    check(endpoint, content, headers)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=FIXED_FUZZ,
    database=None,
)
@given(auth=AUTH_HEADERS, body=st.sampled_from(SAMPLES))
def test_any_authorization_but_the_exact_value_is_401(endpoint, auth, body):
    post = endpoint[0]
    response = post(json.dumps(body), headers={"Authorization": auth})
    endpoint[4][response.status_code] = endpoint[4].get(response.status_code, 0) + 1
    if auth == AUTH:
        assert response.status_code in (200, 409)
    elif not _legal_field_value(auth) and response.status_code == 400:
        pass  # over a socket, aiohttp refuses the request itself, before the channel
    else:
        assert response.status_code == 401
        assert "Authorization" in response.json()["error"]


def _legal_field_value(value: Any) -> bool:
    """RFC 9110: visible characters, space, tab and bytes from 0x80; no other controls."""
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
    return all(byte in (9, 32) or 33 <= byte <= 126 or byte >= 128 for byte in raw)
