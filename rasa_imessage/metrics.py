"""Counters of what the connector did since it started, in Prometheus's text format
(`metrics: true`, `GET /webhooks/imessage/metrics`).

Webhooks by answer, turns by outcome, sends, typing calls, delivery failures: what a team
running the bot watches to know that nothing is lost or answered twice. Counting is a dict
increment on the webhook's path. No contact, text or secret is ever a label: the values are
the connector's own fixed words.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, DefaultDict, Dict, Iterable, List, Mapping, Optional, Tuple

__all__ = [
    "BUBBLES_JOINED",
    "CONTENT_TYPE",
    "COUNTERS",
    "DELIVERY_FAILURES",
    "MEDIA_FETCHES",
    "SENDS",
    "TURNS",
    "TYPING_CALLS",
    "WEBHOOKS",
    "Counter",
    "Gauge",
    "Metrics",
]

# The text exposition format's media type, as Prometheus asks for it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, eq=False)
class Counter:
    """One counter, with at most one label: enough here, and each count stays one dict
    lookup (hashed by identity: each counter is one module-level object)."""

    name: str
    help: str
    label: Optional[str] = None


WEBHOOKS = Counter(
    "rasa_imessage_webhooks_total",
    "Webhooks answered, by answer: accepted (a turn queued), status (nothing to do), "
    "ignored (allowed_contacts, blocked_contacts), duplicate, in_progress, unauthorized, "
    "too_large, bad_request, not_ready, stopping, store_unavailable, busy, error",
    "answer",
)
TURNS = Counter(
    "rasa_imessage_turns_total",
    "Turns of webhooks that ended, by outcome: done, failed (released for LoopMessage's "
    "retry), cancelled (at shutdown)",
    "outcome",
)
BUBBLES_JOINED = Counter(
    "rasa_imessage_bubbles_joined_total",
    "Bubbles that joined the turn of the bubbles before them (merge_window)",
)
SENDS = Counter(
    "rasa_imessage_sends_total",
    "Messages to LoopMessage, by outcome: sent, failed, skipped (the later bubbles of a "
    "response whose send failed)",
    "outcome",
)
DELIVERY_FAILURES = Counter(
    "rasa_imessage_delivery_failures_total",
    "message_failed and message_timeout webhooks whose turn ran: sends LoopMessage accepted "
    "but could not deliver",
)
TYPING_CALLS = Counter(
    "rasa_imessage_typing_calls_total",
    "Typing indicator and read receipt calls, by outcome: ok, failed, paused (not made: "
    "they kept failing)",
    "outcome",
)
MEDIA_FETCHES = Counter(
    "rasa_imessage_media_fetches_total",
    "Fetches of the bot's own files (public_url), by answer: served (whole or a range), "
    "not_found (a wrong, expired or unknown URL, or a file gone since), bad_range (a range "
    "past the end: 416)",
    "answer",
)
COUNTERS = (
    WEBHOOKS, TURNS, BUBBLES_JOINED, SENDS, DELIVERY_FAILURES, TYPING_CALLS, MEDIA_FETCHES,
)  # fmt: skip

# A gauge read when the page is rendered: name, help, and how to read it.
Gauge = Tuple[str, str, Callable[[], float]]


class Metrics:
    """This process's counts, and the page Prometheus scrapes."""

    def __init__(self) -> None:
        self._counts: DefaultDict[Tuple[Counter, Optional[str]], int] = defaultdict(int)

    def add(self, counter: Counter, value: Optional[str] = None, amount: int = 1) -> None:
        """Count `amount` more, under the label value `value` for a labelled counter."""
        self._counts[counter, value] += amount

    def add_all(self, counter: Counter, counts: Mapping[str, int]) -> None:
        """Counts made elsewhere (the webhook port's process), by label value."""
        for value, amount in counts.items():
            self._counts[counter, value] += amount

    def value(self, counter: Counter, value: Optional[str] = None) -> int:
        return self._counts.get((counter, value), 0)

    def render(self, gauges: Iterable[Gauge] = ()) -> str:
        """Prometheus's text exposition format: every counter, seen or not, then the
        gauges."""
        by_counter: Dict[Counter, List[Tuple[Optional[str], int]]] = defaultdict(list)
        for (counter, value), amount in self._counts.items():
            by_counter[counter].append((value, amount))
        lines: List[str] = []
        for counter in COUNTERS:
            lines += [
                f"# HELP {counter.name} {_help(counter.help)}",
                f"# TYPE {counter.name} counter",
            ]
            samples = sorted(by_counter.get(counter, []), key=lambda sample: sample[0] or "")
            if counter.label is None:
                lines.append(f"{counter.name} {sum(amount for _, amount in samples)}")
            else:
                label = f"{counter.name}{{{counter.label}="
                lines += [f'{label}"{_label(value or "")}"}} {amount}' for value, amount in samples]
        for name, text, read in gauges:
            lines += [f"# HELP {name} {_help(text)}", f"# TYPE {name} gauge", f"{name} {read()}"]
        return "\n".join(lines) + "\n"


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
