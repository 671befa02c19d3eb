"""`cache_event_types`: Rasa finds an event's class by its name in a dict, not a walk.

Rasa (3.6 and Pro alike) reads a stored conversation event by event, and for each one
`Event.resolve_by_type` lists every subclass of `Event`, recursively and checking each for
abstract methods, to find the one whose `type_name` matches. For every channel of the server,
that makes loading and saving a conversation 3.2-4.4x slower than a lookup by name, and it
grows with the conversation and with the number of event classes Rasa has imported
(BENCHMARKS.md, section 7; Rasa's CPU per turn of the example bot 8.1 against 4.9 ms in a
50-turn conversation, 2.8 against 2.5 ms in 6-turn ones, section 1 against 1g).

This answers each name with the class that very walk finds first, remembered. It stays
exact: the dict is emptied whenever a subclass of `Event` is defined (a hook on
`Event.__init_subclass__`), and holds classes weakly, so a class that is gone is looked up by
the walk again. A name no class has (and Rasa's legacy "topic") goes to Rasa's own method,
with its default or its error. Process-wide, once; `cache_event_types: false` leaves Rasa
alone.
"""

from __future__ import annotations

import enum
import weakref
from typing import Any, Callable, Optional

__all__ = ["Installed", "cache_event_types", "rasas_lookup"]

_MARK = "_rasa_imessage_cached_event_lookup"


class Installed(enum.Enum):
    """What `cache_event_types` found."""

    now = "installed"
    already = "already installed"
    unsupported = "left alone: this Rasa finds event classes some other way"


def _event_class() -> Any:
    from rasa.shared.core.events import Event

    return Event


def rasas_lookup() -> Callable[..., Any]:
    """Rasa's own `Event.resolve_by_type`, whether or not the cached one is installed."""
    current: Callable[..., Any] = vars(_event_class())["resolve_by_type"].__func__
    original: Callable[..., Any] = getattr(current, "__wrapped__", current)
    return original


def cache_event_types() -> Installed:
    """Make `Event.resolve_by_type` answer from a dict; once per process. A Rasa whose
    lookup is not the static method this knows is left as it is, never broken."""
    event = _event_class()
    method = vars(event).get("resolve_by_type")
    if not isinstance(method, staticmethod):
        return Installed.unsupported
    current = method.__func__
    if getattr(current, _MARK, False):
        return Installed.already
    found: weakref.WeakValueDictionary[str, type] = weakref.WeakValueDictionary()
    _forget_on_new_subclass(event, found)
    event.resolve_by_type = staticmethod(_cached_lookup(event, current, found))
    return Installed.now


def _cached_lookup(
    event: Any, rasa_lookup: Callable[..., Any], found: weakref.WeakValueDictionary[str, type]
) -> Callable[..., Any]:
    from rasa.shared.utils.common import all_subclasses

    def resolve_by_type(type_name: str, default: Optional[type] = None) -> Optional[type]:
        known = found.get(type_name)
        if known is not None:
            return known
        subclass: type
        for subclass in all_subclasses(event):  # Rasa's walk, in Rasa's order
            if getattr(subclass, "type_name", None) == type_name:
                found[type_name] = subclass
                return subclass
        answer: Optional[type] = rasa_lookup(type_name, default)  # "topic", default, error
        return answer

    resolve_by_type.__doc__ = rasa_lookup.__doc__
    setattr(resolve_by_type, _MARK, True)
    resolve_by_type.__wrapped__ = rasa_lookup  # type: ignore[attr-defined]
    return resolve_by_type


def _forget_on_new_subclass(event: Any, found: weakref.WeakValueDictionary[str, type]) -> None:
    """A class defined later may come first in Rasa's walk: empty the dict when one is."""
    previous = vars(event).get("__init_subclass__")

    def __init_subclass__(cls: type, /, **kwargs: Any) -> None:
        found.clear()
        if previous is not None:
            previous.__func__(cls, **kwargs)
        else:
            super(event, cls).__init_subclass__(**kwargs)

    setattr(__init_subclass__, _MARK, True)
    __init_subclass__.__wrapped__ = previous  # type: ignore[attr-defined]
    event.__init_subclass__ = classmethod(__init_subclass__)
