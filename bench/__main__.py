"""`python -m bench` (`make bench`): every section in one run, then BENCHMARKS.md.

Order matters on a small machine: the in-process sections (CPU profile, memory, outbound
client) run before `rasa run` starts, so they do not share the CPU with it; the
end-to-end sections then run against one server. Raw figures also go to
bench/results/latest.json (ignored by git).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Dict, Mapping, Optional, Sequence, Tuple

from .cpu import profile_connector
from .e2e import (
    ACTION_LEVELS,
    ACTION_SECONDS,
    LATENCY_LEVELS,
    LEAN_OPTIONS,
    LEVELS,
    OFFLOADED_OPTIONS,
    PACED,
    PAUSE,
    QUICK_ACTION_LEVELS,
    QUICK_LEVELS,
    ROUNDS,
    bursts,
    throughput,
    with_latency,
)
from .instructions import ROUNDS as INSTRUCTION_ROUNDS
from .instructions import count_instructions, missing_tool
from .load import Driver, RunResult, driven
from .machine import current_commit, describe, load_average
from .memory import measure_all
from .outbound import outbound
from .report import render, utc_now
from .results import (
    ACTION_DEFAULT,
    ACTION_RASAS_CHECK,
    ACTION_RASAS_CHECK_OPTIONS,
    ACTION_WEBHOOK_PORT,
    Results,
    options_label,
)
from .saved import load_results, to_json
from .stack import SLOW_TEXT, action_server, cpu_of, package_folder, rasa_server, rss_of
from .standin import StandIn
from .tracker import tracker_costs

ROOT = Path(__file__).resolve().parent.parent


def progress(line: str) -> None:
    print(line, flush=True)


async def _end_to_end(results: Results, quick: bool) -> None:
    stand_in = StandIn()
    url = await stand_in.start()
    try:
        async with rasa_server(url, progress=progress) as server, driven(
            server, stand_in, ("hi", "help", "mood", "picture", "bye")
        ) as driver:
            results.server = {"train_seconds": server.train_seconds,
                              "start_seconds": server.start_seconds}  # fmt: skip
            results.per_turn = driver.per_turn
            rss_before, cpu_before = rss_of(server.pid), cpu_of(server.pid)
            progress("1-2. throughput and acks")
            results.throughput = await _levels(driver, quick)
            results.latency = await with_latency(
                driver, QUICK_LEVELS[1:] if quick else LATENCY_LEVELS, progress
            )
            conversations, turns = PACED
            results.paced = await driver.closed_loop(
                "imessage", conversations, 1 if quick else turns, "hi", 60.0,
                ramp=PAUSE, pause=PAUSE,
            )  # fmt: skip
            progress(f"  paced: {results.paced.turns_per_second:.1f} turns/s")
            herd = await driver.herd(200, "hi")
            results.herd = herd
            progress(f"  herd: 200 webhooks at once, {herd.errors} errors")
            progress("3. bursts")
            results.bursts = await bursts(driver, 2 if quick else 5, progress)
            results.server.update(
                rss_before=rss_before,
                rss_after=rss_of(server.pid),
                cpu_seconds=cpu_of(server.pid) - cpu_before,
            )
        await _lean(results, stand_in, url, quick)
        await _send_worker(results, stand_in, url, quick)
        await _webhook_port(results, stand_in, url, quick)
        await _offloaded(results, stand_in, url, quick)
        await _rasas_event_lookup(results, stand_in, url, quick)
        await _custom_action(results, stand_in, url, quick)
    finally:
        await stand_in.stop()


def _rounds(quick: bool) -> int:
    """Pairs of runs per throughput level: one is enough to check that the bench runs."""
    return 1 if quick else ROUNDS


async def _levels(driver: Driver, quick: bool) -> Dict[int, Dict[str, RunResult]]:
    """Section 1's levels on `driver`'s server, both channels, `_rounds` pairs each."""
    return await throughput(
        driver, QUICK_LEVELS if quick else LEVELS, progress, rounds=_rounds(quick)
    )


@asynccontextmanager
async def _another_server(
    stand_in: StandIn,
    url: str,
    options: Mapping[str, object],
    action_url: Optional[str] = None,
    text: str = "hi",
    first_on_path: Optional[Path] = None,
    own_webhook_port: bool = False,
) -> AsyncIterator[Driver]:
    """A further `rasa run` with these connector options, and a driver calibrated on `text`."""
    async with rasa_server(
        url, options, progress, action_url, first_on_path, own_webhook_port
    ) as server, driven(server, stand_in, (text,)) as driver:
        yield driver


async def _lean(results: Results, stand_in: StandIn, url: str, quick: bool) -> None:
    """Both channels on a server where a turn makes one request to LoopMessage."""
    progress("1b. one request per turn: " + options_label(LEAN_OPTIONS))
    async with _another_server(stand_in, url, LEAN_OPTIONS) as driver:
        results.lean = await _levels(driver, quick)


async def _webhook_port(results: Results, stand_in: StandIn, url: str, quick: bool) -> None:
    """Both channels on a server answering webhooks on a port and process of their own."""
    progress("1e. webhook_port: acks from a process of their own")
    async with _another_server(stand_in, url, {}, own_webhook_port=True) as driver:
        results.front = await _levels(driver, quick)


async def _offloaded(results: Results, stand_in: StandIn, url: str, quick: bool) -> None:
    """Both channels on a server whose connector does no HTTP in Rasa's process."""
    progress("1f. one request per turn, send_worker and webhook_port together")
    async with _another_server(stand_in, url, OFFLOADED_OPTIONS, own_webhook_port=True) as driver:
        results.offloaded = await _levels(driver, quick)


# Section 1g's server: Rasa's own walk of its event classes for every event it reads.
RASAS_EVENT_LOOKUP: Mapping[str, object] = {"cache_event_types": False}


async def _rasas_event_lookup(results: Results, stand_in: StandIn, url: str, quick: bool) -> None:
    """Both channels on a server where Rasa walks its event classes for every event it reads."""
    progress("1g. " + options_label(RASAS_EVENT_LOOKUP))
    async with _another_server(stand_in, url, RASAS_EVENT_LOOKUP) as driver:
        results.rasas_events = await _levels(driver, quick)


async def _send_worker(results: Results, stand_in: StandIn, url: str, quick: bool) -> None:
    """Both channels on a server whose LoopMessage calls are made by a child process."""
    progress("1c. send_worker: true")
    async with _another_server(stand_in, url, {"send_worker": True}) as driver:
        results.worker = await _levels(driver, quick)


# Section 1d's servers: the defaults (on Rasa 3.6, one compiled validator for the action
# server's answers, `cache_action_schema`, and 256 places); the defaults before the thirteenth
# round (Rasa's own check, 64 places); webhooks on a port of their own (`webhook_port`); 64
# places alone, which cap these quicker turns at about 190 turns/s; and Rasa's own check with
# jsonschema 3.2.0 (within Rasa 3.6's range) ahead of the installed one, the README's other
# remedy on Rasa 3.6 (rasa_imessage/hints.py).
OLD_PLACES: Mapping[str, object] = {"max_concurrent_turns": 64}
JSONSCHEMA_3_OPTIONS: Mapping[str, object] = {"cache_action_schema": False}
JSONSCHEMA_3 = "jsonschema==3.2.0"


@dataclass(frozen=True)
class _ActionServer:
    label: str
    options: Mapping[str, object]
    levels: Sequence[Tuple[int, int]]
    first_on_path: Optional[Path] = None  # a folder Rasa imports from first
    own_webhook_port: bool = False


async def _custom_action(results: Results, stand_in: StandIn, url: str, quick: bool) -> None:
    """Both channels on a bot whose answer is a custom action on Rasa's action server."""
    progress(f"1d. a custom action waiting {ACTION_SECONDS * 1000:.0f} ms on the action server")
    levels = QUICK_ACTION_LEVELS if quick else ACTION_LEVELS
    servers = [
        _ActionServer(ACTION_DEFAULT, {}, levels),
        _ActionServer(ACTION_RASAS_CHECK, ACTION_RASAS_CHECK_OPTIONS, levels),
        _ActionServer(ACTION_WEBHOOK_PORT, {}, levels, own_webhook_port=True),
        _ActionServer(options_label(OLD_PLACES), OLD_PLACES, levels[-1:]),
    ]
    try:
        folder = await package_folder(JSONSCHEMA_3, ROOT / "bench" / "results" / "jsonschema3")
        label = f"{JSONSCHEMA_3}, {options_label(JSONSCHEMA_3_OPTIONS)}"
        servers.append(_ActionServer(label, JSONSCHEMA_3_OPTIONS, levels, folder))
    except RuntimeError as exc:  # no package index: the other servers still run
        progress(f"  {JSONSCHEMA_3}: left out ({exc})")
    async with action_server(ACTION_SECONDS) as action_url:
        for server in servers:
            progress(f"  {server.label}")
            async with _another_server(
                stand_in, url, server.options, action_url, SLOW_TEXT, server.first_on_path,
                server.own_webhook_port,
            ) as driver:  # fmt: skip
                results.action[server.label] = await throughput(
                    driver, server.levels, progress, SLOW_TEXT, _rounds(quick)
                )


async def main(quick: bool) -> Results:
    results = Results(machine=describe(), load_start=load_average())
    started = time.monotonic()
    progress("6. CPU per message (in-process)")
    results.cpu = await profile_connector(500 if quick else 2000, progress)
    progress("5. memory")
    results.memory = await measure_all(progress)
    progress("7. metadata in Rasa's tracker store")
    results.tracker = await tracker_costs(progress)
    progress("4. outbound client")
    results.outbound = await outbound(150 if quick else 600, 8.0, progress)
    progress("end to end: example_bot under rasa run")
    await _end_to_end(results, quick)
    await _instructions(results, rounds=1 if quick else INSTRUCTION_ROUNDS)
    results.load_end = load_average()
    results.seconds = time.monotonic() - started
    results.finished = utc_now()
    return results


async def _instructions(results: Results, rounds: int) -> None:
    """Section 8, with a stand-in of its own; skipped, and said so, without valgrind."""
    missing = missing_tool()
    if missing is not None:
        results.instructions_note = f"Not measured: {missing}."
        progress(f"8. instructions per turn: skipped, {missing}")
        return
    stand_in = StandIn()
    url = await stand_in.start()
    try:
        results.instructions = await count_instructions(stand_in, url, progress, rounds)
    finally:
        await stand_in.stop()


async def _instructions_alone(results: Results) -> Results:
    """Section 8 measured into a saved run, which says when and at which commit."""
    results.instructions, results.instructions_note = [], ""
    await _instructions(results, INSTRUCTION_ROUNDS)
    if results.instructions:
        results.instructions_note = (
            f"Measured on its own on {utc_now()}, at commit {current_commit()}, after the run the "
            "rest of this report comes from (`python -m bench --only-instructions`)."
        )
    return results


def _save(results: Results) -> None:
    folder = ROOT / "bench" / "results"
    folder.mkdir(exist_ok=True)
    (folder / "latest.json").write_text(to_json(results), "utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer turns: a smoke run")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument(
        "--render", type=Path, metavar="JSON",
        help="measure nothing: write the report again from a run's saved figures "
        "(bench/results/latest.json)",
    )  # fmt: skip
    parser.add_argument(
        "--only-instructions", type=Path, metavar="JSON",
        help="measure section 8 alone (about 6 minutes) into a run's saved figures, then "
        "write the report from them",
    )  # fmt: skip
    args = parser.parse_args()
    if args.render is not None:
        outcome = load_results(args.render)
    elif args.only_instructions is not None:
        outcome = asyncio.run(_instructions_alone(load_results(args.only_instructions)))
        _save(outcome)
    else:
        outcome = asyncio.run(main(args.quick))
        _save(outcome)
    again = args.render is not None or args.only_instructions is not None
    report = render(outcome, quick=args.quick, again=again)
    args.output.write_text(report, encoding="utf-8")
    progress(f"wrote {args.output} ({outcome.seconds:.0f} s)")
