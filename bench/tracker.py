"""Section 7: what Rasa's tracker store costs a turn, with and without the connector's help.

Rasa keeps each user message's metadata in the tracker, and its in-memory tracker store
loads and saves the whole conversation as JSON on every turn, so metadata costs time that
grows with the conversation; so does reading each event back, for which Rasa walks every
event class unless `cache_event_types` (rasa_imessage/event_types.py) finds it by name.
Measured in a fresh interpreter (`python -m bench.tracker`, Rasa imported there only): a
conversation of `turns` greetings, then retrieve + save repeated in blocks that alternate
between the metadata the REST channel gives (none) and the connector's for a text message,
each with Rasa's lookup and with the cached one; the best block of each counts, as in
`timeit`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from .load import new_contact, webhook_body

__all__ = ["TrackerCost", "tracker_costs"]

BOT_DOMAIN = Path(__file__).resolve().parent.parent / "example_bot" / "domain.yml"
TURNS = (6, 100)
REPEATS = 20
BLOCKS = 7


@dataclass
class TrackerCost:
    turns: int
    metadata: str  # "none" or "connector"
    metadata_bytes: int  # one user message's metadata as JSON
    tracker_bytes: int  # the stored conversation
    ms: float  # one retrieve + save: mean of REPEATS, best of BLOCKS taken in turn
    lookup: str = "rasa"  # event classes found by Rasa's walk ("rasa") or by name ("cached")


def _connector_metadata() -> Dict[str, Any]:
    from rasa_imessage.inbound import event_metadata
    from rasa_imessage.loopmessage import parse_webhook

    return event_metadata(parse_webhook(json.loads(webhook_body(new_contact(), "hi"))))


async def _conversation(turns: int, kind: str) -> Tuple[Any, Dict[str, Any]]:
    """An in-memory tracker store holding one conversation of `turns` greetings."""
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(BOT_DOMAIN))
    store = InMemoryTrackerStore(domain)
    tracker = DialogueStateTracker("bench", domain.slots)
    metadata: Dict[str, Any] = {}
    for turn in range(turns):
        metadata = _connector_metadata() if kind == "connector" else {}
        intent = {"name": "greet", "confidence": 1.0}
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered("hi", intent, [], None, None, "imessage", f"m{turn}", metadata))
        tracker.update(ActionExecuted("utter_greet"))
        tracker.update(BotUttered("Hi!", {}, {"utter_action": "utter_greet"}))
    await store.save(tracker)
    return store, metadata


async def _block(store: Any) -> float:
    """Seconds for one retrieve + save, the mean of REPEATS."""
    started = time.perf_counter()
    for _ in range(REPEATS):
        loaded = await store.retrieve("bench")
        assert loaded is not None
        await store.save(loaded)
    return (time.perf_counter() - started) / REPEATS


def _lookups() -> Dict[str, Any]:
    """`Event.resolve_by_type` as Rasa has it and as `cache_event_types` makes it."""
    from rasa.shared.core.events import Event

    from rasa_imessage.event_types import cache_event_types, rasas_lookup

    cache_event_types()
    return {"rasa": staticmethod(rasas_lookup()), "cached": vars(Event)["resolve_by_type"]}


async def _all() -> List[Dict[str, Any]]:
    """Blocks of every kind taken in turn, so a slow spell of the machine hits all; the
    best block of each counts, as `timeit` does."""
    from rasa.shared.core.events import Event

    rows = []
    lookups = _lookups()
    metadatas = ("none", "connector")
    kinds = [(metadata, lookup) for lookup in lookups for metadata in metadatas]
    for turns in TURNS:
        built = {metadata: await _conversation(turns, metadata) for metadata in metadatas}
        blocks: Dict[Tuple[str, str], List[float]] = {kind: [] for kind in kinds}
        for _ in range(BLOCKS):
            for metadata, lookup in kinds:
                Event.resolve_by_type = lookups[lookup]
                blocks[metadata, lookup].append(await _block(built[metadata][0]))
        for metadata, lookup in kinds:
            store, sample = built[metadata]
            row = TrackerCost(turns, metadata, len(json.dumps(sample)), len(store.store["bench"]),
                              min(blocks[metadata, lookup]) * 1000, lookup)  # fmt: skip
            rows.append(row.__dict__)
    return rows


async def tracker_costs(progress: Callable[[str], None]) -> List[TrackerCost]:
    """Run the measurement in a child interpreter; one row per (turns, metadata)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.tracker", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 300)
    if process.returncode:
        raise RuntimeError(f"bench.tracker exited with {process.returncode}")
    # Rasa may print its own lines too; ours is the JSON list
    line = next(line for line in out.decode().splitlines() if line.startswith("[{"))
    rows = [TrackerCost(**row) for row in json.loads(line)]
    for row in rows:
        progress(f"  {row.turns} turns, metadata {row.metadata}, {row.lookup}: {row.ms:.2f} ms")
    return rows


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_all())))
