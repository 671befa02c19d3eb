"""The start-up hint about Rasa 3.6's slow check of custom action answers."""

from __future__ import annotations

import logging
from importlib import metadata
from types import SimpleNamespace
from typing import Any

import pytest

action_module = pytest.importorskip(
    "rasa.core.actions.action", reason="needs rasa: pip install 'rasa-imessage[rasa]'"
)

from channel_kit import make_app, served  # noqa: E402

from rasa_imessage import hints  # noqa: E402

RASA_36 = hasattr(action_module.RemoteAction, "_validate_action_result")
ENDPOINT = SimpleNamespace(url="http://127.0.0.1:5055/webhook")


def _jsonschema(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    real = metadata.version
    monkeypatch.setattr(
        metadata, "version", lambda name: version if name == "jsonschema" else real(name)
    )


@pytest.mark.skipif(not RASA_36, reason="Rasa 3.6 only: Rasa Pro caches its validator")
def test_rasa_36_with_jsonschema_4_and_an_action_server_is_told_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _jsonschema(monkeypatch, "4.17.3")
    hint = hints.action_validation_hint(SimpleNamespace(action_endpoint=ENDPOINT))
    assert hint is not None
    assert "jsonschema 4.17.3" in hint and "pip install jsonschema==3.2.0" in hint
    assert "webhook_port" in hint


@pytest.mark.skipif(not RASA_36, reason="Rasa 3.6 only: Rasa Pro caches its validator")
def test_no_hint_with_jsonschema_3(monkeypatch: pytest.MonkeyPatch) -> None:
    _jsonschema(monkeypatch, "3.2.0")
    assert hints.action_validation_hint(SimpleNamespace(action_endpoint=ENDPOINT)) is None


@pytest.mark.skipif(RASA_36, reason="Rasa Pro only")
def test_no_hint_on_rasa_pro_whatever_the_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    _jsonschema(monkeypatch, "4.26.0")
    assert hints.action_validation_hint(SimpleNamespace(action_endpoint=ENDPOINT)) is None


@pytest.mark.parametrize("agent", [None, SimpleNamespace(action_endpoint=None), object()])
def test_no_hint_for_a_bot_without_an_action_server(
    agent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _jsonschema(monkeypatch, "4.17.3")
    assert hints.action_validation_hint(agent) is None


@pytest.mark.skipif(not RASA_36, reason="Rasa 3.6 only: Rasa Pro caches its validator")
@pytest.mark.parametrize(
    ("endpoint", "cache", "expected"),
    [(ENDPOINT, "false", 1), (None, "false", 0), (ENDPOINT, "true", 0)],
    ids=["actions, cache off", "no actions", "actions, cache on (the default)"],
)
async def test_the_server_logs_the_hint_once_at_start_when_it_applies(
    endpoint: Any,
    cache: str,
    expected: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _jsonschema(monkeypatch, "4.17.3")
    app, _, bot = make_app({"cache_action_schema": cache})
    bot.agent.action_endpoint = endpoint
    with caplog.at_level(logging.WARNING, logger="rasa_imessage"):
        async with served(app):
            pass
    logged = [r for r in caplog.records if "jsonschema==3.2.0" in r.getMessage()]
    assert len(logged) == expected
