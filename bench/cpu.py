"""Section 6: CPU per message in the connector's own code, and where it goes.

The connector runs in-process with a stand-in agent (bench/inproc.py): no Rasa turn;
LoopMessage is the stand-in in its own process. CPU per message is measured without a
profiler; then cProfile runs the same load and its time is attributed to the connector,
the HTTP client library, pydantic, Sanic and the rest (the profiler inflates every
figure; the shares are what to read).
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import pstats
import time
import timeit
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Tuple

from rasa_imessage.config import load_config
from rasa_imessage.responses import plan_response

from .inproc import GREETING, Harness
from .load import webhook_body
from .outbound import standin_process

__all__ = ["CpuResult", "profile_connector"]

CONVERSATIONS = 300
_GROUPS: Tuple[Tuple[str, str], ...] = (
    ("/rasa_imessage/", "connector (rasa_imessage)"),
    ("/aiohttp/", "aiohttp"),
    ("/yarl/", "aiohttp"),
    ("/multidict/", "aiohttp"),
    ("/pydantic/", "pydantic"),
    ("/sanic/", "sanic"),
    ("/rasa/", "rasa"),
    ("/asyncio/", "asyncio"),
    ("/logging/", "logging"),
    ("/json/", "json"),
)

# Where a message's time goes, as cumulative time of the connector's entry points.
STAGES: Tuple[Tuple[str, str, str], ...] = (
    ("webhook handler (auth, parse, dedupe, queue, 200)", "/intake.py", "answer_webhook"),
    ("  of which parse_webhook (pydantic)", "loopmessage/_webhook.py", "parse_webhook"),
    ("mapping to a UserMessage", "rasa_imessage/inbound.py", "to_turn"),
    ("output planning (plan_response)", "rasa_imessage/responses.py", "plan_response"),
    ("send_message (2 per message)", "loopmessage/_client.py", "send_message"),
    ("show_typing (typing + read)", "loopmessage/_client.py", "show_typing"),
    ("  of which the HTTP exchanges (all requests)", "loopmessage/_transport.py", "request"),
)


@dataclass
class CpuResult:
    messages: int
    cpu_per_message: float  # seconds, no profiler
    statuses: Dict[int, int]
    groups: Dict[str, float] = field(default_factory=dict)  # share of profiled time
    top: List[Tuple[str, int, float, float]] = field(default_factory=list)
    stages: List[Tuple[str, float]] = field(default_factory=list)  # (stage, share)
    planning: List[Tuple[str, float]] = field(default_factory=list)  # (response, seconds)


# Responses whose planning is timed on its own: the greeting (Markdown, two bubbles) and the
# plain one-line text most bot replies are. Each is planned 20,000 times over, so its bubbles
# come from the cache of recent texts after the first, as a templated reply's do.
PLANNED: Tuple[Tuple[str, Dict[str, str]], ...] = (
    ("the greeting (Markdown, two paragraphs: two sends; a text seen before)", GREETING),
    ("a plain one-line text", {"text": "Sure, your order 1234 ships tomorrow."}),
)


def time_planning(url: str, repeat: int = 20000) -> List[Tuple[str, float]]:
    """Seconds `plan_response` takes per response, for each of `PLANNED` (best of three)."""
    config = load_config({"api_key": "bench", "webhook_auth": "bench", "base_url": url})
    timed = []
    for label, message in PLANNED:
        runs = timeit.repeat(
            functools.partial(plan_response, message, "+15550000000", config),
            number=repeat,
            repeat=3,
        )
        timed.append((label, min(runs) / repeat))
    return timed


def _group(filename: str) -> str:
    for marker, name in _GROUPS:
        if marker in filename:
            return name
    if filename.startswith("~"):
        return "builtins (called by all of the above)"
    return "other standard library" if "/lib/python3" in filename else "other"


_CHECKOUT = str(Path(__file__).resolve().parent.parent) + "/"


def _where(filename: str, line: int, name: str) -> str:
    """A profiled function as the report names it: no path of this machine's in it."""
    if filename.startswith(_CHECKOUT):  # the connector, the bench: from the checkout's root
        filename = filename[len(_CHECKOUT) :]
    elif "/rasa_imessage/" in filename:  # the connector installed elsewhere
        filename = "rasa_imessage/" + filename.split("/rasa_imessage/", 1)[1]
    elif "site-packages/" in filename:
        filename = filename.split("site-packages/", 1)[1]
    elif "/lib/python3" in filename:  # the standard library, wherever Python lives
        filename = filename.split("/lib/python3", 1)[1].split("/", 1)[-1]
    elif filename.startswith("~"):
        return name
    return f"{filename}:{line} {name}"


def _attribute(profile: cProfile.Profile, messages: int, result: CpuResult) -> None:
    stats = pstats.Stats(profile)
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values()) or 1.0
    for (filename, _, _), entry in raw.items():
        group = _group(filename)
        result.groups[group] = result.groups.get(group, 0.0) + entry[2] / total
    for label, path, function in STAGES:
        share = sum(
            entry[3]
            for (filename, _, name), entry in raw.items()
            if name == function and filename.endswith(path)
        )
        result.stages.append((label, share / total))
    ranked = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)
    for (filename, line, name), (_, calls, tottime, cumtime, _) in ranked[:15]:
        result.top.append(
            (_where(filename, line, name), calls // messages, tottime / total, cumtime / total)
        )


async def _measure(messages: int, url: str) -> CpuResult:
    harness = Harness(url)
    contacts = [f"+1555{n:07d}" for n in range(CONVERSATIONS)]
    await harness.run(webhook_body(contact, "hi") for contact in contacts)  # warm-up
    bodies = [webhook_body(contacts[n % CONVERSATIONS], "hi") for n in range(messages)]
    started = time.process_time()
    await harness.run(bodies)
    result = CpuResult(messages, (time.process_time() - started) / messages, {})
    bodies = [webhook_body(contacts[n % CONVERSATIONS], "hi") for n in range(messages)]
    profile = cProfile.Profile()
    profile.enable()
    await harness.run(bodies)
    profile.disable()
    result.statuses = dict(harness.statuses)
    _attribute(profile, messages, result)
    await harness.aclose()
    result.planning = time_planning(url)
    return result


async def profile_connector(messages: int, progress: Callable[[str], None]) -> CpuResult:
    async with standin_process() as url:
        result = await _measure(messages, url)
    progress(f"  {result.cpu_per_message * 1e6:.0f} µs CPU per message")
    return result


if __name__ == "__main__":
    outcome = asyncio.run(profile_connector(2000, print))
    for group, share in sorted(outcome.groups.items(), key=lambda item: -item[1]):
        print(f"{share:6.1%} {group}")
    for label, share in outcome.stages:
        print(f"{share:6.1%} {label}")
    for where, calls, own, cumulative in outcome.top:
        print(f"{own:6.1%} {cumulative:6.1%} {calls:4} {where}")
