"""Error tables as data, and the typed errors built from LoopMessage's answers."""

from __future__ import annotations

import pytest

from rasa_imessage.loopmessage import (
    CURRENT_CODES,
    LEGACY_CODES,
    LEGACY_WEBHOOK_CODES,
    APIError,
    AuthenticationError,
    DeliveryError,
    ErrorKind,
    RateLimitError,
    RecipientError,
    describe,
    error_from_response,
)


def test_tables_are_keyed_by_their_own_codes():
    for table in (CURRENT_CODES, LEGACY_CODES, LEGACY_WEBHOOK_CODES):
        assert table
        for code, info in table.items():
            assert info.code == code
            assert info.meaning
            assert info.hint
            assert "\n" not in info.meaning + info.hint


def test_only_1000_and_1010_are_retryable():
    retryable = {code for code, info in CURRENT_CODES.items() if info.retryable}
    assert retryable == {1000, 1010}
    assert not any(info.retryable for info in LEGACY_CODES.values())
    assert not any(info.retryable for info in LEGACY_WEBHOOK_CODES.values())


@pytest.mark.parametrize("code", [125, 130, 300, 330, 500, 510, 530, 540, 550])
def test_generations_differ_where_the_reference_says(code):
    current, legacy = CURRENT_CODES[code], LEGACY_CODES[code]
    assert (current.meaning, current.kind) != (legacy.meaning, legacy.kind)


@pytest.mark.parametrize(
    ("api", "code", "kind"),
    [
        ("current", 125, ErrorKind.request),
        ("legacy", 125, ErrorKind.auth),
        ("current", 130, ErrorKind.auth),
        ("legacy", 130, ErrorKind.auth),
        ("current", 300, ErrorKind.account),
        ("legacy", 300, ErrorKind.sender),
        ("current", 330, ErrorKind.account),
        ("legacy", 330, ErrorKind.rate_limit),
        ("current", 500, ErrorKind.recipient),
        ("legacy", 500, ErrorKind.account),
        ("current", 510, ErrorKind.recipient),
        ("legacy", 510, ErrorKind.account),
        ("current", 520, ErrorKind.recipient),
        ("legacy", 560, ErrorKind.recipient),
        ("current", 540, ErrorKind.rate_limit),
        ("legacy", 540, ErrorKind.sender),
        ("current", 550, ErrorKind.rate_limit),
        ("legacy", 550, ErrorKind.sender),
        ("current", 1020, ErrorKind.delivery),
    ],
)
def test_kinds(api, code, kind):
    assert describe(api, code).kind is kind


def test_hints_say_what_to_do():
    assert describe("current", 520).hint == (
        "the contact must text your sender first; ask them to send any message, then retry"
    )
    assert describe("current", 130).hint == (
        "check api_key: copy the organization API key from the LoopMessage dashboard"
    )
    assert "secret_key" in describe("legacy", 130).hint
    assert "authorization_key" in describe("legacy", 125).hint


def test_legacy_webhook_codes_are_a_separate_table():
    assert describe("legacy", 130, webhook=True).meaning == "message timeout"
    assert describe("legacy", 130).meaning == "secret key invalid or nonexistent"
    # The current API has one table for responses and webhooks.
    assert describe("current", 130, webhook=True) == describe("current", 130)


def test_unknown_codes_and_generations():
    info = describe("current", 4242)
    assert (info.code, info.kind, info.retryable) == (4242, ErrorKind.unknown, False)
    assert "4242" in info.meaning
    assert info.hint
    with pytest.raises(ValueError, match="current"):
        describe("beta", 100)


@pytest.mark.parametrize(
    ("api", "status", "body", "cls", "retryable"),
    [
        ("current", 400, {"success": False, "code": 520}, RecipientError, False),
        ("current", 400, {"success": False, "code": 130}, AuthenticationError, False),
        ("legacy", 400, {"success": False, "code": 125}, AuthenticationError, False),
        ("current", 400, {"success": False, "code": 540}, RateLimitError, False),
        ("legacy", 400, {"success": False, "code": 330}, RateLimitError, False),
        ("current", 400, {"success": False, "code": 1010}, DeliveryError, True),
        ("current", 400, {"success": False, "code": 1000}, DeliveryError, True),
        ("current", 400, {"success": False, "code": 1020}, DeliveryError, False),
        ("current", 400, {"success": False, "code": 1030}, DeliveryError, False),
        ("current", 400, {"success": False, "code": 580}, APIError, False),
        ("current", 400, {"error_code": 150}, RecipientError, False),
        ("current", 400, {"code": "520"}, RecipientError, False),
        ("current", 401, None, AuthenticationError, False),
        ("legacy", 403, {}, AuthenticationError, False),
        ("current", 429, None, RateLimitError, True),
        ("current", 429, {"code": 580}, RateLimitError, True),
        ("current", 500, None, APIError, True),
        ("current", 503, {"message": "down"}, APIError, True),
        ("current", 408, None, APIError, True),
        ("current", 402, {"success": False}, APIError, False),
        ("current", 400, {"success": False}, APIError, False),
        ("current", 500, {"code": 9999}, APIError, True),
        ("current", 400, {"code": 9999}, APIError, False),
    ],
)
def test_error_from_response_picks_the_class(api, status, body, cls, retryable):
    error = error_from_response(api, status, body)
    assert type(error) is cls
    assert error.status == status
    assert error.retryable is retryable


def test_error_fields_and_one_line_message():
    error = error_from_response(
        "current",
        400,
        {"success": False, "code": 520, "message": "secret body text"},
        retry_after=3.0,
    )
    assert (error.code, error.kind, error.retry_after) == (520, ErrorKind.recipient, 3.0)
    assert error.meaning == describe("current", 520).meaning
    assert str(error) == (
        "LoopMessage error 520: cannot send outbound messages until the recipient starts a "
        "conversation. the contact must text your sender first; ask them to send any message, "
        "then retry"
    )
    assert error.detail == "secret body text"
    assert "secret body text" not in str(error) + repr(error)


def test_status_only_errors_name_the_status():
    out_of_credits = error_from_response("current", 402, None)
    assert str(out_of_credits).startswith("LoopMessage error HTTP 402: out of credits.")
    assert out_of_credits.kind is ErrorKind.account
    auth = error_from_response("legacy", 401, None)
    assert "authorization_key" in auth.hint


def test_error_from_response_refuses_an_unknown_generation():
    with pytest.raises(ValueError, match="api must be"):
        error_from_response("beta", 400, None)


def test_tables_hold_exactly_the_documented_codes():
    current = {100, 110, 115, 120, 125, 130, 140, 150, 160, 165, 170, 180, 190, 200, 210}
    current |= {220, 230, 240, 250, 260, 270, 290, 300, 310, 320, 330, 340, 500, 510, 520}
    current |= {530, 540, 550, 580, 590, 595, 600, 610, 620, 630, 640, 1000, 1010, 1020, 1030}
    current |= {1110, 1120, 1130, 1140}
    legacy = {100, 110, 120, 125, 130, 140, 150, 160, 170, 180, 190, 210, 220, 230, 240, 270}
    legacy |= {300, 330, 400, 500, 510, 530, 540, 545, 550, 560, 570, 580, 590, 595, 600, 610}
    legacy |= {620, 630, 640, 1110, 1120, 1130, 1140}
    assert set(CURRENT_CODES) == current
    assert set(LEGACY_CODES) == legacy
    assert set(LEGACY_WEBHOOK_CODES) == {100, 110, 120, 130, 140, 150}
