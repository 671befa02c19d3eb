"""BENCHMARKS.md from one run's figures: method, machine, tables, and targets met or not.

The analysis (what the figures mean, what was fixed, before and after) is written by hand
in bench/FINDINGS.md and appended, since no generator can judge a figure honestly.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import List

from .e2e import ACTION_SECONDS, API_LATENCY, BURST_TEXTS, PAUSE, paired_ratios
from .instructions import CONVERSATIONS, TURNS
from .load import PROBE_RATE, percentile
from .results import ACTION_DEFAULT, ACTION_RASAS_CHECK, ACTION_WEBHOOK_PORT, Results
from .tables import (
    MiB,
    acks_table,
    bursts_table,
    cpu_section,
    instructions_table,
    latency_table,
    median_ratio,
    memory_table,
    ms,
    outbound_table,
    ratio_text,
    table,
    throughput_table,
    tracker_table,
    verdict,
)
from .tracker import BLOCKS, REPEATS

__all__ = ["Results", "render", "utc_now"]

FINDINGS = Path(__file__).resolve().parent / "FINDINGS.md"


def _summary(r: Results) -> List[str]:
    rows = []
    custom = f"custom action, {ACTION_SECONDS * 1000:.0f} ms"
    servers = (("", r.throughput), (" (`send_worker: true`)", r.worker),
               (" (`webhook_port`)", r.front),
               (" (one request per turn, `send_worker` and `webhook_port`)", r.offloaded),
               (f" ({custom})", r.action.get(ACTION_DEFAULT, {})),
               (f" ({custom}, `webhook_port`)", r.action.get(ACTION_WEBHOOK_PORT, {})),
               (f" ({custom}, `cache_action_schema: false`, 64 places)",
                r.action.get(ACTION_RASAS_CHECK, {})))  # fmt: skip
    for label, by_level in servers:
        for conversations, runs in by_level.items():
            ratios = paired_ratios(runs)
            met = verdict(median_ratio(ratios) >= 1.0)
            rows.append([f"throughput ratio to REST, {conversations} conversations{label}",
                         "≥ 1.0", ratio_text(ratios), met])  # fmt: skip
    for label, by_level in servers:
        top = max(by_level, default=None)
        if top is None:
            continue
        run = by_level[top]["imessage"]
        p99, seen = percentile(run.probe_acks, 99), percentile(run.acks, 99)
        rows.append([f"ack p99, {top} conversations, server saturated{label}", "≤ 10 ms",
                     f"{ms(p99)} ms (the load generator saw {ms(seen)} ms)",
                     verdict(p99 <= 0.010)])  # fmt: skip
    if r.paced is not None:
        p99 = percentile(r.paced.acks, 99)
        rows.append([f"ack p99, {r.paced.conversations} conversations pausing {PAUSE:.0f} s "
                     "(about half load)", "≤ 10 ms", f"{ms(p99)} ms",
                     verdict(p99 <= 0.010)])  # fmt: skip
    for burst in r.bursts:
        if burst.channel == "imessage":
            rows.append(["burst of 5 vs 5 sequential turns", "≤ 1.2x", f"{burst.ratio:.2f}x",
                         verdict(burst.ratio <= 1.2)])  # fmt: skip
    runner = r.memory.get("turn_runner")
    if runner:
        growth = (runner["rss_after"] - runner["rss_before"]) / MiB
        rows.append(["RSS growth, 100k conversations through the TurnRunner", "bounded",
                     f"{growth:+.1f} MiB, {runner['left_in_runner']} left",
                     verdict(runner["left_in_runner"] == 0)])  # fmt: skip
    return table(["what", "target", "measured", ""], rows)


def _where_the_gap_is(r: Results) -> List[str]:
    """Context for the throughput ratio: the connector's capacity alone and its share."""
    top = max(r.throughput, default=None)
    if r.cpu is None or top is None:
        return []
    runs = r.throughput[top]
    own = r.cpu.cpu_per_message
    rest = runs["rest"].turns_per_second
    extra = (runs["imessage"].server_cpu / max(runs["imessage"].turns, 1)
             - runs["rest"].server_cpu / max(runs["rest"].turns, 1))  # fmt: skip
    return ["", f"The connector alone (section 6, no Rasa) costs {own * 1e6:.0f} µs of CPU per "
            f"message: one core would carry {1 / own:.0f} messages/s of it, "
            f"{1 / own / max(rest, 1e-9):.1f}x what the REST channel does end to end at {top} "
            f"conversations. But it runs on the one core Rasa's turns run on, so each turn "
            f"costs that core {extra * 1000:.1f} ms more than a REST turn (section 1), and "
            "that is what the ratio measures (`send_worker: true` moves the LoopMessage calls "
            "to a child process)."]  # fmt: skip


def _rounds(r: Results) -> int:
    """Pairs of runs per level, as many as each channel's pooled result kept rates of."""
    return max((len(runs["imessage"].rates) for runs in r.throughput.values()), default=0)


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render(r: Results, *, quick: bool = False, again: bool = False) -> str:
    """The report; `again`: from a saved run's figures, rendered later than it ran."""
    m = r.machine
    # A saved run from before `finished` was recorded must not take the rendering's date.
    ran = r.finished or ("a date not recorded" if again else utc_now())
    out = ["# Benchmarks", "",
           "Generated by `make bench` (`.venv/bin/python -m bench`, bench/) on " + ran
           + f", in {r.seconds / 60:.1f} minutes" + (" (**--quick**: smoke figures)" if quick
           else "") + (f"; this report rendered again from its saved figures on {utc_now()}"
           if again else "") + ". Not a CI test: figures depend on the machine.", "",
           "## Machine", ""]  # fmt: skip
    out += table(["", ""], [[k, v] for k, v in m.items()]
                  + [["load average (1/5/15 min) at start", r.load_start],
                     ["load average at end", r.load_end]])  # fmt: skip
    out += ["", "## Targets (issue 7)", "", *_summary(r), *_where_the_gap_is(r)]
    turn = r.per_turn
    out += ["", "## Method", "",
            "- One `rasa run` of example_bot (KeywordIntentClassifier + RulePolicy, trained by "
            "the benchmark in a temporary copy) serves both channels: the iMessage connector "
            "(default options) and Rasa's built-in `rest` channel, same process, model, tracker "
            "store and lock store. Train and start: "
            f"{r.server.get('train_seconds', 0):.0f} s and "
            f"{r.server.get('start_seconds', 0):.0f} s.",
            "- LoopMessage is played by bench/standin.py: an aiohttp server on 127.0.0.1 that "
            "records each send and answers 200 at once (it shares the load generator's "
            "process and event loop, so it can wake the waiting conversation directly).",
            "- A turn is the text `hi`: the greeting, two paragraphs, "
            f"{turn.get('imessage', {}).get('hi', '?')} iMessage sends (plus one typing/read "
            f"call) or {turn.get('rest', {}).get('hi', '?')} REST messages. An iMessage turn "
            "ends when the stand-in has the turn's last send; a REST turn when its POST returns.",
            "- Closed loop: each conversation (a fresh sender) sends, waits for the turn's "
            "replies, sends again; conversations start spread over 1 s. Both channels get the "
            "same conversations x turns at each level, one run right after the other, in "
            f"{_rounds(r)} round(s) that alternate which channel goes first. The ratio is the "
            "median of the rounds' ratios, with their range: identical runs on this shared "
            "machine differ by more than the gap being measured, and a pair made a few "
            "seconds apart shares the machine's state of the moment. Turns/s, latency and CPU "
            "pool all rounds. Every loop is bounded in count and time (60 s per run).",
            "- Turn latency: from sending the message to its last reply. In a saturated "
            "closed loop it is mostly waiting for the server, and the two channels wait "
            "differently: the connector queues turns first come, first served, so its p50 "
            "and p99 stay close, while REST answers most requests at once and leaves a few "
            "for seconds. So both p50 and p99 are shown.",
            "- Ack latency: from the start of the webhook POST to its 200, measured by the "
            "client (aiohttp, keep-alive), and by bench/prober.py, a process of its own that "
            f"posts {PROBE_RATE} status webhooks (`message_delivered`: claimed and acked like a "
            "message, no turn) a second during each iMessage run. The load generator's loop "
            "also plays LoopMessage's API and wakes every conversation, so its own lateness is "
            "in its figures; the prober's is what LoopMessage would see, and the targets use "
            "it. The closed loops saturate the server (each sender "
            "sends again as soon as it has its reply); the paced row has each sender wait "
            f"{PAUSE:.0f} s after a reply, as people do, which loads it about half. The herd "
            "row posts 200 webhooks at the same instant.",
            "- Server CPU per turn: user+system time of the `rasa run` process over the run "
            "(/proc), divided by turns. It is the least noisy figure on a shared machine. Its "
            "system time (the kernel's work for its system calls, loopback network included) "
            "is a column of its own: section 8's instruction count does not see it. The send "
            "worker's (the child's) is its own column.",
            "- Bursts: five texts (" + ", ".join(BURST_TEXTS) + ") from one sender, once one "
            "after another (each waits for its answer) and once all five at once: the five "
            "webhooks back to back (each acked in milliseconds), the five REST POSTs "
            "concurrently (REST answers only after the turn). Each on a fresh sender warmed by "
            "one turn; time from the first message to the last reply; median of the "
            "repetitions. Replies in bubble order: the burst's sends, in arrival order at the "
            "stand-in, equal those of the sequential run.",
            "- The in-process sections (4-6) run before `rasa run` starts. Memory runs each "
            "measurement in a fresh interpreter and reads RSS from /proc.",
            ""]  # fmt: skip
    out += ["## 1. End-to-end throughput", "", *throughput_table(r.throughput)]
    if r.lean:
        out += ["", "### One request per turn", "",
                "A third `rasa run` with `typing_delay: 0.5`, `split_paragraphs: false` and "
                "`mark_read: false`: the greeting goes as one bubble, and a reply that quick "
                "makes no show-typing call and sends no read receipt, so a turn is the webhook "
                "and one send. Both channels again, back to back "
                "on that server.", "", *throughput_table(r.lean)]  # fmt: skip
    if r.worker:
        out += ["", "### `send_worker: true`", "",
                "A fourth `rasa run` whose LoopMessage calls are made by the connector's child "
                "process (default options otherwise). Server CPU is the `rasa run` process; "
                "the child's, on whichever core is free, is its own column.", "",
                *throughput_table(r.worker)]  # fmt: skip
    if r.front:
        out += ["", "### `webhook_port`: webhooks on a port and process of their own", "",
                "A fifth `rasa run` whose connector answers the webhooks on a port of its own, "
                "from a process of its own (rasa_imessage/front_process.py); the load "
                "generator and the prober post there. Default options otherwise. Server CPU "
                "is the `rasa run` process; the webhook port's process is in the child "
                "processes' column.", "",
                *throughput_table(r.front)]  # fmt: skip
    if r.offloaded:
        out += ["", "### Everything off Rasa's core", "",
                "A sixth `rasa run` with all of the above: one request per turn "
                "(`typing_delay: 0.5`, `split_paragraphs: false`, `mark_read: false`), made by "
                "the send worker, "
                "and webhooks answered on their own port. Rasa's process then does no HTTP "
                "for the connector; both child processes share the second core with the load "
                "generator and the stand-in.", "",
                *throughput_table(r.offloaded)]  # fmt: skip
    if r.rasas_events:
        out += ["", "### Rasa's own lookup of event classes (`cache_event_types: false`)", "",
                "A seventh `rasa run`, default options but one: Rasa finds the class of each "
                "event it reads back by walking every `Event` subclass, as it does without the "
                "connector (rasa_imessage/event_types.py). It applies to the whole process, so "
                "REST's turns pay it too; compare with section 1's table.", "",
                *throughput_table(r.rasas_events)]  # fmt: skip
    if r.action:
        out += ["", f"### A bot with a custom action ({ACTION_SECONDS * 1000:.0f} ms)", "",
                "Most production bots answer through custom actions. Here the text `slow` is "
                "answered by `action_slow` (bench/slow_action.py) on Rasa's own action server "
                f"(rasa_sdk, loopback): it waits {ACTION_SECONDS * 1000:.0f} ms, as an action "
                "calling an API does, then sends one message. Rasa's turn is then far more "
                "CPU than the greeting's (the server CPU column). Both channels again, on a "
                "`rasa run` with default options (on Rasa 3.6 they include "
                "`cache_action_schema`: one compiled validator checks the action server's "
                "answers); on one with the defaults before the thirteenth round "
                "(`cache_action_schema: false`, Rasa's own check, and "
                "`max_concurrent_turns: 64`); on one answering webhooks on a port of their "
                "own (`webhook_port`); on one with `max_concurrent_turns: 64` alone, which "
                "caps turns this quick (the default is 256); and on one with "
                "`cache_action_schema: false` whose Rasa imports jsonschema 3.2.0 ahead of the "
                "installed version (which the machine table names), the README's other "
                "remedy.", ""]  # fmt: skip
        for label, by_level in r.action.items():
            out += [f"{label}:", "", *throughput_table(by_level), ""]
        out.pop()
    if r.latency:
        out += ["", f"### With LoopMessage answering in {API_LATENCY * 1000:.0f} ms", "",
                "The stand-in waits before each answer, as the real API over the internet "
                "does (an assumed round trip; REST sends nothing, so its figures are the ones "
                "above).", ""]  # fmt: skip
        out += latency_table(r)
    out += ["", "## 2. Webhook ack latency (iMessage)", "", *acks_table(r)]
    out += ["", "## 3. Bursts: 5 bubbles at once", "", *bursts_table(r)]
    out += [
        "",
        "## 4. Outbound client",
        "",
        "Sends of one text message to the stand-in running in its own process.",
        "",
    ]
    out += outbound_table(r)
    out += ["", "## 5. Memory", "", *memory_table(r)]
    if r.server:
        out += ["", f"`rasa run` RSS: {r.server.get('rss_before', 0) / MiB:.0f} MiB before the "
                f"end-to-end sections, {r.server.get('rss_after', 0) / MiB:.0f} MiB after "
                "(Rasa's in-memory tracker store keeps every conversation)."]  # fmt: skip
    out += [
        "",
        "## 6. CPU per message in the connector",
        "",
        "In-process (bench/inproc.py): webhooks go straight into the channel's handler, a "
        "stand-in agent answers each with the greeting (two sends), LoopMessage is "
        "bench/standin.py in its own process (its CPU is not counted; the client's sockets "
        "are). Rasa itself is not run; pydantic 1 is compiled, so "
        "its time shows under the connector function that calls it (`parse_obj`).",
        "",
    ]
    out += cpu_section(r)
    if r.tracker:
        out += ["", "## 7. Rasa's tracker store: metadata, and the lookup of event classes", "",
                "Rasa's in-memory tracker store loads and saves the whole conversation as JSON "
                "on every turn, user messages' metadata included, and finds the class of each "
                "event it reads back by walking every event class, unless `cache_event_types` "
                "finds it by name (bench/tracker.py, Rasa in-process: a conversation of "
                f"greetings, then blocks of {REPEATS} retrieve + save, all kinds in turn; the "
                f"best of {BLOCKS} blocks of each).",
                "", *tracker_table(r.tracker)]  # fmt: skip
    if r.instructions or r.instructions_note:
        out += ["", "## 8. Instructions per turn in Rasa's process (callgrind)", "",
                "Identical runs of section 1 differ by 15-25 % on this machine; instructions "
                "executed do not depend on what else it does. `rasa run` runs under valgrind's "
                "callgrind with counting switched on for each closed-loop run alone "
                f"({CONVERSATIONS} conversations of {TURNS} turns, the text `hi`, no prober) "
                "and off once Rasa's process has gone quiet with no turn pending, not at the "
                "last reply, after which a turn may still compute. So the count is the run's "
                "turns in Rasa's process, and the health requests that confirm it (one once the "
                "process is quiet, another each time a turn is still pending); the child "
                "processes of "
                "`send_worker` and `webhook_port` are not traced (bench/instructions.py). "
                "A count repeats to within a few percent, so it shows what a change to the "
                "connector's code costs or saves on Rasa's core where section 1 cannot. It is "
                "not section 1's ratio: the kernel's work for the process's system calls is "
                "not counted (section 1 shows it), natively an instruction of the connector's "
                "(asyncio, sockets, pipes) may take more time than one of Rasa's, and under "
                "valgrind, "
                "25-50 times slower, the turns interleave otherwise. For the same reason "
                "every turn waits longer than `typing_delay: 0.5`, so in section 1f each turn "
                "also makes the show-typing call, as at saturation in section 1.",
                *(["", r.instructions_note] if r.instructions_note else []),
                *(["", *instructions_table(r.instructions)] if r.instructions else [])]  # fmt: skip
    if FINDINGS.exists():
        out += ["", FINDINGS.read_text(encoding="utf-8").strip()]
    return "\n".join(out) + "\n"
