"""WebhookAuth: an exact, constant-time comparison with the dashboard's header value."""

from __future__ import annotations

import hmac

import pytest

from rasa_imessage.auth import WebhookAuth

SECRET = "Bearer 3f9c-long-random-value"


def as_sanic_reads(raw: bytes) -> str:
    """Header bytes as Sanic hands them over (UTF-8, undecodable bytes kept as surrogates)."""
    return raw.decode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    ("header", "valid"),
    [
        (SECRET, True),
        (None, False),
        ("", False),
        ("Bearer 3f9c-long-random-valu", False),
        (SECRET + "x", False),
        (SECRET.upper(), False),
        ("Bearer  3f9c-long-random-value", False),
        (as_sanic_reads(b"Bearer 3f9c-long-random-valu\xe9"), False),
        ("\ud800", False),  # a lone surrogate cannot be encoded: refused, not an error
        ("Bearer 3f9c-long-random-valu\u00e9", False),
    ],
)
def test_only_the_exact_header_value_passes(header, valid):
    assert WebhookAuth(SECRET).is_valid(header) is valid


def test_non_ascii_secret_matches_the_bytes_sanic_received():
    checker = WebhookAuth("clé-secrète-✓")
    assert checker.is_valid(as_sanic_reads("clé-secrète-✓".encode()))
    assert not checker.is_valid(as_sanic_reads("clé-secrète-✓".encode("utf-16")))
    assert not checker.is_valid(as_sanic_reads("clé-secrète-✓".encode("latin-1", "replace")))


def test_the_comparison_is_hmac_compare_digest_on_bytes(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert not WebhookAuth(SECRET).is_valid("wrong")
    assert calls == [(b"wrong", SECRET.encode())]


@pytest.mark.parametrize("header", [None, "", "anything", SECRET, "\ud800"])
def test_disabled_check_lets_everything_through(header):
    checker = WebhookAuth(None)
    assert checker.enabled is False
    assert checker.is_valid(header) is True


def test_enabled_and_repr_without_the_secret():
    checker = WebhookAuth(SECRET)
    assert checker.enabled is True
    assert repr(checker) == "WebhookAuth(enabled=True)"
    assert repr(WebhookAuth(None)) == "WebhookAuth(enabled=False)"
