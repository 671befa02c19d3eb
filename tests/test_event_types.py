"""`cache_event_types`: Rasa's event classes found by name from a dict, the same as Rasa's walk."""

from __future__ import annotations

import gc
import logging
from typing import Any, Callable, Dict, Iterator, List

import pytest

events = pytest.importorskip(
    "rasa.shared.core.events", reason="needs rasa: pip install 'rasa-imessage[rasa]'"
)

from channel_kit import make_app, served  # noqa: E402
from rasa.shared.utils.common import all_subclasses  # noqa: E402

from rasa_imessage.event_types import Installed, cache_event_types, rasas_lookup  # noqa: E402

Event: Any = events.Event


def _every_type_name() -> List[str]:
    return sorted({cls.type_name for cls in all_subclasses(Event)})


def _outcome(lookup: Callable[..., Any], *args: Any) -> Any:
    try:
        return lookup(*args)
    except ValueError as error:
        return ("ValueError", str(error))


@pytest.fixture
def cached() -> Iterator[Callable[..., Any]]:
    assert cache_event_types() is Installed.now
    yield Event.resolve_by_type


def test_every_name_gets_the_class_rasas_walk_gives(cached: Callable[..., Any]) -> None:
    rasa = rasas_lookup()
    names = _every_type_name()
    assert {"user", "bot", "slot", "action", "session_started"} <= set(names)
    for name in names:
        assert cached(name) is rasa(name), name
        assert cached(name) is rasa(name), name  # from the dict this time


@pytest.mark.parametrize(
    "args",
    [("no_such_event",), ("no_such_event", events.UserUttered), ("topic",), ("",)],
    ids=["unknown", "unknown-with-default", "legacy-topic", "empty"],
)
def test_names_without_a_class_get_rasas_answer(
    cached: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    expected = _outcome(rasas_lookup(), *args)
    assert _outcome(cached, *args) == expected
    assert _outcome(cached, *args) == expected  # not remembered


def test_stored_events_read_back_the_same_as_with_rasas_walk(
    cached: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    stored: List[Dict[str, Any]] = [
        {"event": "action", "name": "action_session_start", "timestamp": 1.0},
        {"event": "session_started", "timestamp": 2.0},
        {"event": "slot", "name": "city", "value": "Paris", "timestamp": 3.0},
        {"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet"}},
         "metadata": {"contact": "+15550000001"}, "timestamp": 4.0},
        {"event": "bot", "text": "Hello", "data": {}, "metadata": {}, "timestamp": 5.0},
        {"event": "restart", "timestamp": 6.0},
    ]  # fmt: skip
    by_name = events.deserialise_events(stored)
    monkeypatch.setattr(Event, "resolve_by_type", staticmethod(rasas_lookup()))
    by_walk = events.deserialise_events(stored)
    assert [type(event) for event in by_name] == [type(event) for event in by_walk]
    assert [type(event).type_name for event in by_name] == [e["event"] for e in stored]
    assert [event.as_dict() for event in by_name] == [event.as_dict() for event in by_walk]


def test_it_is_installed_once() -> None:
    assert cache_event_types() is Installed.now
    assert cache_event_types() is Installed.already


def test_a_rasa_that_finds_event_classes_some_other_way_is_left_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def own_lookup(cls: Any, type_name: str, default: Any = None) -> Any:
        return default

    other = classmethod(own_lookup)
    monkeypatch.setattr(Event, "resolve_by_type", other)
    assert cache_event_types() is Installed.unsupported
    assert vars(Event)["resolve_by_type"] is other
    assert "__init_subclass__" not in vars(Event)


def test_a_class_defined_later_that_rasa_would_find_first_is_found(
    cached: Callable[..., Any],
) -> None:
    restarted = cached("restart")
    assert restarted is events.Restarted  # a grandchild of Event, via a mixin

    class Impostor(Event):  # type: ignore[misc]  # a direct subclass: first in Rasa's walk
        type_name = "restart"

        def __eq__(self, other: Any) -> bool:
            return type(other) is type(self)

        def as_story_string(self) -> None:
            return None

    assert rasas_lookup()("restart") is Impostor
    assert cached("restart") is Impostor

    del Impostor
    gc.collect()  # gone from Rasa's walk, and from the dict, which holds classes weakly
    assert rasas_lookup()("restart") is events.Restarted
    assert cached("restart") is events.Restarted


@pytest.mark.parametrize(
    ("credentials", "installed"),
    [({}, True), ({"cache_event_types": "true"}, True), ({"cache_event_types": "false"}, False)],
    ids=["default", "true", "false"],
)
async def test_the_server_installs_it_at_start_unless_turned_off(
    credentials: Dict[str, str], installed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    rasa = rasas_lookup()
    app, _, _ = make_app(credentials)
    with caplog.at_level(logging.INFO, logger="rasa_imessage"):
        async with served(app):
            pass
    assert (vars(Event)["resolve_by_type"].__func__ is not rasa) is installed
    assert ("Rasa's event classes found by name: installed" in caplog.text) is installed
