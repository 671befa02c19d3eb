"""Advice about the Rasa install around the connector, logged once when the server starts.

Rasa 3.6 checks every answer of the action server with `jsonschema.validate`, which first
checks Rasa's own schema against the metaschema. With jsonschema 4, what pip installs
within Rasa 3.6's range (`>=3.2,<4.18`), that takes about 20 ms of CPU per custom action
call, in one stretch on the event loop that also acks the webhooks; with jsonschema 3.2.0,
about 2 ms (BENCHMARKS.md, section 1d and its findings). Rasa Pro keeps one validator and
is not concerned; `cache_action_schema` (action_checks.py, on by default) does the same for
Rasa 3.6, so the advice is only for a server that turned it off.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Optional

from .action_checks import checks_each_answer_slowly, has_action_endpoint

__all__ = ["action_validation_hint"]


def action_validation_hint(agent: Any) -> Optional[str]:
    """What to install when this bot's custom actions pay for the slow validation; else None."""
    if not has_action_endpoint(agent):
        return None  # no action server (or no bot yet): Rasa validates no answer
    if not checks_each_answer_slowly():
        return None  # Rasa Pro, or `cache_action_schema`: one compiled validator
    try:
        version = metadata.version("jsonschema")
    except metadata.PackageNotFoundError:
        return None
    major = version.split(".")[0]
    if not major.isdigit() or int(major) < 4:
        return None
    return (
        f"iMessage: Rasa checks each custom action's answer with jsonschema {version}, which "
        "costs about 20 ms of CPU per action call, and no webhook is acked meanwhile; "
        "`cache_action_schema` (on unless set to false) makes it about 0.2 ms (one compiled "
        "validator, as Rasa Pro keeps), `pip install jsonschema==3.2.0` about 2 ms, and "
        "`webhook_port` has webhooks acked meanwhile (README: custom actions on Rasa 3.6)"
    )
