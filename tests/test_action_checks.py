"""`cache_action_schema`: Rasa 3.6's check of custom action answers, with one validator."""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Any, Callable, Dict, Optional

import pytest

action_module = pytest.importorskip(
    "rasa.core.actions.action", reason="needs rasa: pip install 'rasa-imessage[rasa]'"
)

from channel_kit import make_app, served  # noqa: E402
from jsonschema import ValidationError  # noqa: E402

from rasa_imessage.action_checks import Installed, cache_action_schema  # noqa: E402

RemoteAction: Any = action_module.RemoteAction
RASA_36 = hasattr(RemoteAction, "_validate_action_result")
rasa_36_only = pytest.mark.skipif(not RASA_36, reason="Rasa Pro keeps one validator itself")

ANSWERS = [
    {"events": [{"event": "slot", "name": "city", "value": "Paris"}],
     "responses": [{"text": "hi", "buttons": [{"title": "a", "payload": "/a"}]}]},
    {},
    {"events": [], "responses": []},
    {"events": "not a list"},
    {"responses": [1]},
    {"events": [{"event": "bogus"}]},
    {"events": [{"event": "slot"}]},
    {"events": [{"event": "user", "timestamp": "noon"}]},
    [],
    "text",
]  # fmt: skip


@pytest.fixture
def rasa_check() -> Callable[[Any, Any], bool]:
    """Rasa's own check, as installed (conftest puts it back after each test)."""
    original: Callable[[Any, Any], bool] = RemoteAction._validate_action_result
    return original


def _outcome(check: Callable[[Any, Any], bool], action: Any, answer: Any) -> Optional[str]:
    """None for an accepted answer, else the error's message."""
    try:
        assert check(action, answer) is True
    except ValidationError as error:
        return str(error.message)
    return None


@rasa_36_only
@pytest.mark.parametrize("answer", ANSWERS)
def test_every_answer_gets_what_rasas_own_check_gives(
    rasa_check: Callable[[Any, Any], bool], answer: Any
) -> None:
    action = RemoteAction("action_weather", None)
    expected = _outcome(rasa_check, action, answer)
    assert cache_action_schema() is Installed.now
    assert _outcome(RemoteAction._validate_action_result, action, answer) == expected
    if expected is not None:
        assert "Failed to validate Action server response" in expected


@rasa_36_only
def test_it_is_installed_once(rasa_check: Callable[[Any, Any], bool]) -> None:
    assert cache_action_schema() is Installed.now
    installed = RemoteAction._validate_action_result
    assert installed is not rasa_check
    assert cache_action_schema() is Installed.already
    assert RemoteAction._validate_action_result is installed


@rasa_36_only
def test_a_subclass_with_a_schema_of_its_own_keeps_rasas_check(
    rasa_check: Callable[[Any, Any], bool],
) -> None:
    class StrictAction(RemoteAction):  # type: ignore[misc]  # Rasa ships no types
        @staticmethod
        def action_response_format_spec() -> Dict[str, Any]:
            return {"type": "object", "required": ["responses"]}

    cache_action_schema()
    action = StrictAction("action_strict", None)
    assert RemoteAction._validate_action_result(action, {"responses": []}) is True
    with pytest.raises(ValidationError, match="'responses' is a required property"):
        RemoteAction._validate_action_result(action, {"events": []})


def test_a_rasa_without_the_slow_check_needs_none(monkeypatch: pytest.MonkeyPatch) -> None:
    if RASA_36:  # as Rasa Pro: it has no such method, it keeps one validator itself
        monkeypatch.delattr(RemoteAction, "_validate_action_result")
    assert cache_action_schema() is Installed.not_needed


@rasa_36_only
@pytest.mark.parametrize(
    ("credentials", "option"),
    [
        ({}, True),
        ({"cache_action_schema": "true"}, True),
        ({"cache_action_schema": "false"}, False),
    ],
    ids=["default", "true", "false"],
)
async def test_the_server_installs_it_at_start_unless_turned_off_and_then_gives_the_hint(
    credentials: Dict[str, str],
    option: bool,
    rasa_check: Callable[[Any, Any], bool],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real_version = metadata.version
    monkeypatch.setattr(  # the slow jsonschema, whichever is installed
        metadata, "version", lambda name: "4.17.3" if name == "jsonschema" else real_version(name)
    )
    app, _, bot = make_app(credentials)
    bot.agent.action_endpoint = object()
    with caplog.at_level(logging.INFO, logger="rasa_imessage"):
        async with served(app):
            pass
    assert (RemoteAction._validate_action_result is not rasa_check) is option
    messages = [record.getMessage() for record in caplog.records]
    assert (
        any("one compiled validator for custom actions' answers" in m for m in messages) is option
    )
    assert any("`cache_action_schema` (on unless set to false)" in m for m in messages) is not (
        option
    )


@rasa_36_only
async def test_a_bot_without_an_action_endpoint_leaves_rasa_as_it_is(
    rasa_check: Callable[[Any, Any], bool], caplog: pytest.LogCaptureFixture
) -> None:
    app, _, bot = make_app()
    bot.agent.action_endpoint = None
    with caplog.at_level(logging.INFO, logger="rasa_imessage"):
        async with served(app):
            pass
    assert RemoteAction._validate_action_result is rasa_check
    assert "custom actions' answers: not needed: this bot has no action endpoint" in caplog.text
