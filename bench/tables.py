"""The tables of BENCHMARKS.md, one function per section, and the formats they share."""

from __future__ import annotations

import math
import statistics
from typing import Dict, List, Optional

from .e2e import PAUSE, paired_ratios
from .instructions import InstructionCount
from .load import RunResult, percentile
from .results import Results
from .tracker import TrackerCost

MiB = 1024 * 1024


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def median_ratio(ratios: List[float]) -> float:
    """The median of the rounds' ratios (`paired_ratios`): each round's two runs were made
    side by side."""
    return statistics.median(ratios) if ratios else float("nan")


def ratio_text(ratios: List[float]) -> str:
    """The median ratio, and the rounds' lowest and highest when there were several.

    Cut, not rounded, to two places: 0.997 misses a target of 1.0 and reads 0.99.
    """
    if len(ratios) < 2:
        return cut(median_ratio(ratios))
    return f"{cut(median_ratio(ratios))} ({cut(min(ratios))}-{cut(max(ratios))})"


def cut(value: float) -> str:
    return f"{math.floor(value * 100) / 100:.2f}" if math.isfinite(value) else "n/a"


def table(header: List[str], rows: List[List[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def throughput_table(by_level: Dict[int, Dict[str, RunResult]]) -> List[str]:
    worker = any(runs["imessage"].worker_cpu > 0 for runs in by_level.values())
    kernel = any(run.server_kernel_cpu is not None
                 for runs in by_level.values() for run in runs.values())  # fmt: skip
    rows = []
    for conversations, runs in by_level.items():
        i, rest = runs["imessage"], runs["rest"]
        rows.append([
            str(conversations), f"{i.turns}", f"{i.turns_per_second:.1f}",
            f"{rest.turns_per_second:.1f}", ratio_text(paired_ratios(runs)),
            f"{ms(percentile(i.latencies, 50))} / {ms(percentile(i.latencies, 99))}; "
            f"{ms(percentile(rest.latencies, 50))} / {ms(percentile(rest.latencies, 99))}",
            f"{ms(i.server_cpu / max(i.turns, 1))} / {ms(rest.server_cpu / max(rest.turns, 1))}",
            *([f"{kernel_ms(i)} / {kernel_ms(rest)}"] if kernel else []),
            *([ms(i.worker_cpu / max(i.turns, 1))] if worker else []),
            f"{i.errors + rest.errors}",
        ])  # fmt: skip
    return table(["conversations", "turns, all rounds", "iMessage turns/s", "REST turns/s",
                   "ratio, median of the rounds (range)",
                   "turn latency p50 / p99 ms, iMessage; REST",
                   "server CPU ms per turn (iMessage / REST)",
                   *(["of which in the kernel"] if kernel else []),
                   *(["child processes' CPU ms per iMessage turn"] if worker else []),
                   "errors"], rows)  # fmt: skip


def kernel_ms(run: RunResult) -> str:
    """The server's CPU per turn spent in the kernel, in ms to two places (it is a tenth of
    a millisecond or so); n/a for a run saved without it."""
    if run.server_kernel_cpu is None:
        return "n/a"
    return f"{run.server_kernel_cpu / max(run.turns, 1) * 1000:.2f}"


def latency_table(r: Results) -> List[str]:
    rows = []
    for conversations, run in r.latency.items():
        rest = r.throughput.get(conversations, {}).get("rest")
        rest_rate = rest.turns_per_second if rest else float("nan")
        rows.append([
            str(conversations), str(run.turns), f"{run.turns_per_second:.1f}", f"{rest_rate:.1f}",
            f"{run.turns_per_second / rest_rate:.2f}", ms(percentile(run.latencies, 50)),
            f"{ms(percentile(run.acks, 50))} / {ms(percentile(run.acks, 99))}",
            ms(run.server_cpu / max(run.turns, 1)), str(run.errors),
        ])  # fmt: skip
    return table(["conversations", "turns", "iMessage turns/s", "REST turns/s (no sends)",
                   "ratio", "turn latency p50 ms", "ack p50 / p99 ms",
                   "server CPU ms per turn", "errors"], rows)  # fmt: skip


def _ack_row(load: str, run: RunResult) -> List[str]:
    acks, probed = run.acks, run.probe_acks
    return [load, str(len(acks)), ms(percentile(acks, 50)), ms(percentile(acks, 99)),
            ms(max(acks, default=float("nan"))), str(len(probed)),
            f"{ms(percentile(probed, 50))} / {ms(percentile(probed, 99))}" if probed else ""
            ]  # fmt: skip


def acks_table(r: Results) -> List[str]:
    rows = [_ack_row(f"{conversations} conversations, closed loop", runs["imessage"])
            for conversations, runs in r.throughput.items()]  # fmt: skip
    rows += [_ack_row(f"{conversations} conversations, closed loop, `send_worker: true`",
                      runs["imessage"]) for conversations, runs in r.worker.items()]  # fmt: skip
    rows += [_ack_row(f"{conversations} conversations, closed loop, `webhook_port`",
                      runs["imessage"]) for conversations, runs in r.front.items()]  # fmt: skip
    rows += [_ack_row(f"{conversations} conversations, closed loop, one request per turn, "
                      "`send_worker` and `webhook_port`", runs["imessage"])
             for conversations, runs in r.offloaded.items()]  # fmt: skip
    rows += [_ack_row(f"{conversations} conversations, closed loop, custom action, {label}",
                      runs["imessage"])
             for label, by_level in r.action.items()
             for conversations, runs in by_level.items()]  # fmt: skip
    if r.paced is not None:
        rows.append(_ack_row(f"{r.paced.conversations} conversations, {PAUSE:.0f} s between a "
                             f"reply and the next message ({r.paced.turns_per_second:.1f} "
                             "turns/s)", r.paced))  # fmt: skip
    if r.herd is not None:
        rows.append(_ack_row("200 webhooks posted at the same instant", r.herd))
    return table(["load", "webhooks", "p50 ms", "p99 ms", "max ms", "prober's webhooks",
                   "prober's p50 / p99 ms"], rows)  # fmt: skip


def bursts_table(r: Results) -> List[str]:
    rows = []
    for b in r.bursts:
        rows.append([
            "iMessage connector" if b.channel == "imessage" else "Rasa REST channel",
            str(len(b.burst)), ms(statistics.median(b.sequential)),
            ms(statistics.median(b.burst)), f"{b.ratio:.2f}x",
            f"{b.in_order}/{len(b.burst)}" if b.channel == "imessage" else "n/a",
        ])  # fmt: skip
    return table(["channel", "repetitions", "5 sequential turns, median ms",
                   "5 at once, median ms", "ratio", "replies in bubble order"], rows)  # fmt: skip


def outbound_table(r: Results) -> List[str]:
    rows = [[o.variant, str(o.concurrency), str(o.sends), f"{o.per_second:.0f}",
             f"{o.cpu / max(o.sends, 1) * 1e6:.0f}"] for o in r.outbound]  # fmt: skip
    return table(["client", "concurrent sends", "sends", "sends/s", "client CPU µs per send"],
                  rows)  # fmt: skip


def memory_table(r: Results) -> List[str]:
    rows = []
    runner = r.memory.get("turn_runner")
    if runner:
        rows.append(["TurnRunner: 100k distinct conversations, 1000 at a time",
                     f"{runner['rss_before'] / MiB:.1f}", f"{runner['rss_peak'] / MiB:.1f}",
                     f"{runner['rss_after'] / MiB:.1f}",
                     f"{(runner['rss_after'] - runner['rss_before']) / MiB:+.1f}",
                     f"{runner['left_in_runner']} conversations left"])  # fmt: skip
    for name, label in (
        ("store_1m", "MemoryStore: 1M webhook ids, cap 1M"),
        ("store_default_cap", "MemoryStore: 1M webhook ids, default cap 200k"),
    ):
        m = r.memory.get(name)
        if m:
            rows.append(
                [
                    label,
                    f"{m['rss_before'] / MiB:.1f}",
                    "",
                    f"{m['rss_after'] / MiB:.1f}",
                    f"{(m['rss_after'] - m['rss_before']) / MiB:+.1f}",
                    f"{m['kept']} kept, {m['bytes_per_entry']:.0f} bytes per kept entry",
                ]
            )
    return table(["what", "RSS before MiB", "peak MiB", "after MiB", "growth MiB", "notes"],
                  rows)  # fmt: skip


def cpu_section(r: Results) -> List[str]:
    c = r.cpu
    if c is None:
        return []
    lines = [f"{c.cpu_per_message * 1e6:.0f} µs of CPU per message ({c.messages} messages, "
             f"statuses {c.statuses}), without the profiler.", "",
             "Where it goes (cProfile, share of profiled time, cumulative):", ""]  # fmt: skip
    lines += table(["stage", "share", "≈ µs per message"],
                    [[label, f"{share:.1%}", f"{share * c.cpu_per_message * 1e6:.0f}"]
                     for label, share in c.stages])  # fmt: skip
    if c.planning:
        lines += ["", "Output planning alone (`plan_response`, best of three runs of 20,000):", ""]
        lines += table(["response", "µs"], [[label, f"{t * 1e6:.1f}"] for label, t in c.planning])
    lines += ["", "By library (own time):", ""]
    groups = sorted(c.groups.items(), key=lambda item: -item[1])
    lines += table(["code", "share"], [[g, f"{s:.1%}"] for g, s in groups if s >= 0.005])
    lines += ["", "Top functions by own time:", ""]
    lines += table(
        ["function", "calls per message", "own", "cumulative"],
        [[f"`{w}`", str(n), f"{o:.1%}", f"{cum:.1%}"] for w, n, o, cum in c.top],
    )
    return lines


def _difference(ms: float, base: Optional[float], wanted: bool) -> str:
    return f"{ms - base:+.2f}" if wanted and base is not None else ""


def _speed_up(slower: Optional[float], ms: float, wanted: bool) -> str:
    return f"{slower / ms:.1f}x" if wanted and slower is not None and ms > 0 else ""


def tracker_table(rows: List[TrackerCost]) -> List[str]:
    none = {(row.turns, row.lookup): row.ms for row in rows if row.metadata == "none"}
    rasas = {(row.turns, row.metadata): row.ms for row in rows if row.lookup == "rasa"}
    body = [
        [
            str(row.turns),
            "none (as REST)" if row.metadata == "none" else "the connector's, text message",
            "Rasa's walk" if row.lookup == "rasa" else "by name (`cache_event_types`)",
            str(row.metadata_bytes),
            str(row.tracker_bytes),
            f"{row.ms:.2f}",
            _difference(row.ms, none.get((row.turns, row.lookup)), row.metadata != "none"),
            _speed_up(rasas.get((row.turns, row.metadata)), row.ms, row.lookup != "rasa"),
        ]
        for row in rows
    ]
    header = ["turns in the conversation", "user message metadata", "event classes found by",
              "bytes each", "stored conversation bytes", "retrieve + save ms",
              "cost of the metadata ms", "faster than Rasa's walk"]  # fmt: skip
    return table(header, body)


def instructions_table(counts: List[InstructionCount]) -> List[str]:
    """Per server: each channel's instructions per turn, and REST's over the connector's."""
    rows = []
    for server in dict.fromkeys(count.server for count in counts):
        runs = [count for count in counts if count.server == server]
        rest = {c.round: c for c in runs if c.channel == "rest"}
        imessage = {c.round: c for c in runs if c.channel == "imessage"}
        ratios = [rest[n].per_turn / imessage[n].per_turn for n in sorted(rest) if n in imessage]
        rows.append([
            server,
            " / ".join(f"{c.per_turn / 1e6:.2f}" for c in imessage.values()),
            " / ".join(f"{c.per_turn / 1e6:.2f}" for c in rest.values()),
            ratio_text(ratios),
            str(sum(c.errors for c in runs)),
        ])  # fmt: skip
    header = ["server", "iMessage, M instructions per turn (each run)", "REST, the same",
              "REST's over iMessage's, median (range)", "errors"]  # fmt: skip
    return table(header, rows)
