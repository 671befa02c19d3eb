"""The figures of one `make bench` run, as `bench/results/latest.json` keeps them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from .cpu import CpuResult
from .e2e import BurstResult
from .instructions import InstructionCount
from .load import RunResult
from .outbound import OutboundResult
from .tracker import TrackerCost

__all__ = [
    "ACTION_DEFAULT",
    "ACTION_RASAS_CHECK",
    "ACTION_RASAS_CHECK_OPTIONS",
    "ACTION_WEBHOOK_PORT",
    "Results",
    "options_label",
]


@dataclass
class Results:
    machine: Dict[str, str]
    load_start: str
    load_end: str = ""
    seconds: float = 0.0
    finished: str = ""  # when the run ended, UTC ("YYYY-MM-DD HH:MM UTC")
    cpu: Optional[CpuResult] = None
    memory: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    outbound: List[OutboundResult] = field(default_factory=list)
    server: Dict[str, float] = field(default_factory=dict)
    per_turn: Dict[str, Dict[str, int]] = field(default_factory=dict)
    throughput: Dict[int, Dict[str, RunResult]] = field(default_factory=dict)
    latency: Dict[int, RunResult] = field(default_factory=dict)  # iMessage, API_LATENCY
    herd: Optional[RunResult] = None
    bursts: List[BurstResult] = field(default_factory=list)
    # both channels on a third server where a turn is one request (LEAN_OPTIONS)
    lean: Dict[int, Dict[str, RunResult]] = field(default_factory=dict)
    # both channels on a server with `send_worker: true` (calls made by a child process)
    worker: Dict[int, Dict[str, RunResult]] = field(default_factory=dict)
    # both channels on a server answering webhooks on a port of their own (`webhook_port`)
    front: Dict[int, Dict[str, RunResult]] = field(default_factory=dict)
    # both channels on a server with all of the above: one request per turn, made by the
    # send worker, and webhooks on their own port (section 1f)
    offloaded: Dict[int, Dict[str, RunResult]] = field(default_factory=dict)
    # both channels on a server with Rasa's own walk for event classes (`cache_event_types:
    # false`): what section 1's default server gains from the dict (section 1g)
    rasas_events: Dict[int, Dict[str, RunResult]] = field(default_factory=dict)
    paced: Optional[RunResult] = None  # iMessage, senders pausing between turns (PAUSE)
    # section 1d: both channels on a bot answering with a custom action, by server options
    action: Dict[str, Dict[int, Dict[str, RunResult]]] = field(default_factory=dict)
    tracker: List[TrackerCost] = field(default_factory=list)  # section 7
    instructions: List[InstructionCount] = field(default_factory=list)  # section 8
    # section 8 skipped (why), or measured apart from the rest (when, at which commit)
    instructions_note: str = ""


ACTION_DEFAULT = "default options"  # the key of section 1d's server with default options
ACTION_WEBHOOK_PORT = "webhook_port"  # section 1d's server answering webhooks on their own port


def options_label(options: Mapping[str, object]) -> str:
    """Connector options as credentials.yml writes them: `cache_action_schema: false, ...`."""
    return ", ".join(f"{key}: {json.dumps(value)}" for key, value in options.items())


# Section 1d's server with the defaults before the thirteenth round: Rasa's own check of each
# action answer, and 64 places.
ACTION_RASAS_CHECK_OPTIONS: Mapping[str, object] = {
    "cache_action_schema": False,
    "max_concurrent_turns": 64,
}
ACTION_RASAS_CHECK = options_label(ACTION_RASAS_CHECK_OPTIONS)
