"""Retry-After parsing and the retry policy, with the clock and randomness pinned."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rasa_imessage.loopmessage import (
    APIConnectionError,
    APITimeoutError,
    InvalidRequestError,
    PayloadError,
    RetryPolicy,
    error_from_response,
    parse_retry_after,
)

NOW = 1696004797.0  # Fri, 29 Sep 2023 16:26:37 GMT


def _now() -> float:
    return NOW


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "20"}, 20.0),
        ({"Retry-After": "20"}, 20.0),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": " 7 "}, 7.0),
        ({"retry-after": "-10"}, None),
        ({"retry-after": "61"}, 61.0),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "1e400"}, None),
        ({"retry-after": "99999999999999999999999999999999999"}, 1e35),
        ({"retry-after": "Fri, 29 Sep 2023 16:26:57 GMT"}, 20.0),
        ({"retry-after": "Fri, 29 Sep 2023 16:26:37 GMT"}, 0.0),
        ({"retry-after": "Fri, 29 Sep 2023 16:26:27 GMT"}, None),
        ({"retry-after": "Fri, 29 Sep 2023 16:27:37 -0000"}, 60.0),
        ({"retry-after": "Zun, 29 Sep 2023 16:26:27 GMT"}, None),
        ({"retry-after": "Fri, 99 Sep 2023 16:26:27 GMT"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "junk", "retry-after": "9"}, 9.0),
        ({"retry-after-ms": "-5", "retry-after": "9"}, 9.0),
        ({}, None),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers, now=_now) == expected


@given(st.text(), st.text())
def test_parse_retry_after_never_raises(seconds, milliseconds):
    for headers in ({"retry-after": seconds}, {"retry-after-ms": milliseconds}):
        value = parse_retry_after(headers, now=_now)
        assert value is None or (math.isfinite(value) and value >= 0)


def _policy(**kwargs):
    return RetryPolicy(random=lambda: 1.0, **kwargs)


@pytest.mark.parametrize(
    ("retry_after", "attempt", "expected"),
    [
        (20.0, 0, 20.0),
        (60.0, 0, 60.0),
        (0.0, 0, 0.5),  # zero is no advice: back off as usual
        (61.0, 0, 0.5),
        (None, 0, 0.5),
        (None, 1, 1.0),
        (None, 2, 2.0),
        (None, 4, 8.0),
        (None, 1100, 8.0),
        (0.5, 2, 0.5),  # under a second is advice too
    ],
)
def test_delay(retry_after, attempt, expected):
    error = error_from_response("current", 429, None, retry_after=retry_after)
    assert _policy().delay(attempt, error) == expected


def test_jitter_scales_between_three_quarters_and_one():
    low = RetryPolicy(random=lambda: 0.0).delay(2, APIConnectionError("x"))
    high = RetryPolicy(random=lambda: 1.0).delay(2, APIConnectionError("x"))
    assert (low, high) == (1.5, 2.0)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (APIConnectionError("x"), True),
        (APITimeoutError("x"), True),
        (error_from_response("current", 400, {"code": 1010}), True),
        (error_from_response("current", 400, {"code": 1000}), True),
        (error_from_response("current", 500, None), True),
        (error_from_response("current", 408, None), True),
        (error_from_response("current", 429, None, retry_after=60.0), True),
        (error_from_response("current", 429, None, retry_after=61.0), False),
        (error_from_response("current", 400, {"code": 1020}), False),
        (error_from_response("current", 400, {"code": 520}), False),
        (error_from_response("current", 400, {"code": 130}), False),
        (error_from_response("current", 402, None), False),
        (PayloadError("x"), False),
        (InvalidRequestError("text", "x"), False),
    ],
)
def test_should_retry(error, expected):
    assert RetryPolicy().should_retry(error) is expected


def test_policy_refuses_nonsense():
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="first_delay"):
        RetryPolicy(first_delay=10.0, max_delay=1.0)
    with pytest.raises(ValueError, match="first_delay"):
        RetryPolicy(first_delay=-0.1)


def test_policy_takes_its_edges():
    assert RetryPolicy(max_retries=0).max_retries == 0  # no retry at all
    assert RetryPolicy(first_delay=0.0).delay(0, APIConnectionError("x")) == 0.0
    assert (
        RetryPolicy(first_delay=8.0, max_delay=8.0, random=lambda: 1.0).delay(
            0, APIConnectionError("x")
        )
        == 8.0
    )


def test_an_http_date_without_a_zone_is_utc_whatever_the_servers_zone(monkeypatch):
    """ "-0000" carries no zone; read as local time it would be off by the server's offset."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert parse_retry_after({"retry-after": "Fri, 29 Sep 2023 16:27:37 -0000"}, _now) == 60.0
    finally:
        monkeypatch.undo()
        time.tzset()
