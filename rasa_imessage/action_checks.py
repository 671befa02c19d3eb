"""`cache_action_schema`: Rasa 3.6 checks custom actions' answers with one compiled validator.

Rasa 3.6 calls `jsonschema.validate(answer, schema)` for every answer of the action server,
and `validate` first checks Rasa's schema, a constant, against jsonschema's metaschema: with
jsonschema 4 about 20 ms of CPU per action call, in one stretch on the event loop that acks
webhooks (hints.py; BENCHMARKS.md, section 1d). Rasa Pro compiles one validator and keeps
it. This does the same for Rasa 3.6: the same validator class for the same schema, the same
error for a bad answer (jsonschema's `best_match`, with Rasa's own advice appended), with the
schema checked once instead of on every call. A subclass whose schema differs is left to
Rasa's own check. On by default: the checks and errors are Rasa's, and the turn it saves is
most of a custom action's CPU (section 1d); `cache_action_schema: false` leaves Rasa alone.
"""

from __future__ import annotations

import enum
from typing import Any, Callable, Dict

__all__ = [
    "Installed",
    "cache_action_schema",
    "checks_each_answer_slowly",
    "has_action_endpoint",
]

_MARK = "_rasa_imessage_cached_schema"


class Installed(enum.Enum):
    """What `cache_action_schema` found."""

    now = "installed"
    already = "already installed"
    not_needed = "not needed: this Rasa keeps one validator"
    no_action_server = "not needed: this bot has no action endpoint"


def _remote_action() -> Any:
    """Rasa's RemoteAction, or None where it has no per-call check (Rasa Pro)."""
    try:
        from rasa.core.actions.action import RemoteAction
    except ImportError:  # pragma: no cover - the channel cannot load without Rasa
        return None
    return RemoteAction if hasattr(RemoteAction, "_validate_action_result") else None


def checks_each_answer_slowly() -> bool:
    """Whether this Rasa checks the schema itself on every action call (Rasa 3.6, uncached)."""
    remote_action = _remote_action()
    return remote_action is not None and not getattr(
        remote_action._validate_action_result, _MARK, False
    )


def has_action_endpoint(agent: Any) -> bool:
    """Whether this loaded bot calls an action server (without one, Rasa checks no answer)."""
    return getattr(agent, "action_endpoint", None) is not None


def cache_action_schema(agent: Any = None) -> Installed:
    """Make `RemoteAction` check answers with one compiled validator; once per process.

    `agent`: the loaded bot; one without an action endpoint leaves Rasa as it is. None (not
    loaded yet, or unknown): installed, since the bot may have one.
    """
    if agent is not None and not has_action_endpoint(agent):
        return Installed.no_action_server
    remote_action = _remote_action()
    if remote_action is None:
        return Installed.not_needed
    if not checks_each_answer_slowly():
        return Installed.already
    remote_action._validate_action_result = _cached_check(
        remote_action.action_response_format_spec(), remote_action._validate_action_result
    )
    return Installed.now


def _cached_check(
    schema: Dict[str, Any], rasa_check: Callable[[Any, Dict[str, Any]], bool]
) -> Callable[[Any, Dict[str, Any]], bool]:
    from jsonschema import exceptions, validators
    from rasa.shared.constants import DOCS_BASE_URL

    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)  # what `validate` does on every call, done once
    validator = validator_class(schema)

    def _validate_action_result(action: Any, result: Dict[str, Any]) -> bool:
        if action.action_response_format_spec() != schema:  # a subclass's own schema
            return rasa_check(action, result)
        error = exceptions.best_match(validator.iter_errors(result))
        if error is None:
            return True
        error.message += (  # Rasa's words, so a bad answer is reported as before
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error

    setattr(_validate_action_result, _MARK, True)
    _validate_action_result.__wrapped__ = rasa_check  # type: ignore[attr-defined]
    return _validate_action_result
