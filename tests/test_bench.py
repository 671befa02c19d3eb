"""The benchmark's own arithmetic: paired rounds, the ratio it reports, its saved figures.

No server here: `make bench` measures; these check that what it reports is what it measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import AsyncIterator, Dict, List, Tuple

import aiohttp
import pytest
from aiohttp import web

from bench.cpu import CpuResult, _where
from bench.e2e import BurstResult, paired_ratios, throughput
from bench.instructions import InstructionCount, dump_total
from bench.load import Driver, RunResult
from bench.outbound import OutboundResult
from bench.report import render
from bench.results import Results
from bench.saved import from_json, to_json
from bench.stack import HEALTH_PATH, REST_PATH, RasaServer
from bench.tracker import TrackerCost


class _Driver:
    """Stands in for bench.load.Driver: each run takes a second and makes `turns` turns."""

    def __init__(self, rest_seconds: List[float]) -> None:
        self.order: List[str] = []
        self._rest_seconds = list(rest_seconds)

    async def closed_loop(
        self, channel: str, conversations: int, turns: int, text: str, budget: float
    ) -> RunResult:
        self.order.append(channel)
        seconds = 1.0 if channel == "imessage" else self._rest_seconds.pop(0)
        return RunResult(channel, conversations, turns=turns, seconds=seconds, acks=[0.002])


def _pair(imessage: List[float], rest: List[float]) -> Dict[str, RunResult]:
    return {
        "imessage": RunResult("imessage", 50, rates=imessage),
        "rest": RunResult("rest", 50, rates=rest),
    }


def test_rounds_alternate_which_channel_goes_first_and_pool_each_channel() -> None:
    driver = _Driver(rest_seconds=[0.5, 0.8, 1.25])
    results = asyncio.run(throughput(driver, ((50, 100),), lambda line: None, rounds=3))  # type: ignore[arg-type]

    assert driver.order == ["imessage", "rest", "rest", "imessage", "imessage", "rest"]
    imessage, rest = results[50]["imessage"], results[50]["rest"]
    assert (imessage.turns, imessage.seconds, len(imessage.acks)) == (300, 3.0, 3)
    assert rest.rates == [200.0, 125.0, 80.0]
    assert paired_ratios(results[50]) == [0.5, 0.8, 1.25]


def test_the_reported_ratio_is_the_median_pair_with_the_range_and_is_cut_not_rounded() -> None:
    runs = _pair(imessage=[99.7, 50.0, 120.0], rest=[100.0, 100.0, 100.0])
    results = Results(machine={}, load_start="", throughput={50: runs})

    report = render(results)

    # 0.997 is the median: it misses a target of 1.0, so it must not read 1.00.
    assert (
        "| throughput ratio to REST, 50 conversations | ≥ 1.0 | 0.99 (0.50-1.20) | **missed** |"
        in report
    )


def test_a_ratio_of_one_pair_has_no_range_and_a_pair_at_or_above_one_meets_the_target() -> None:
    results = Results(machine={}, load_start="", throughput={50: _pair([101.0], [100.0])})

    assert "| throughput ratio to REST, 50 conversations | ≥ 1.0 | 1.01 | met |" in render(results)


def test_saved_figures_read_back_as_the_results_that_were_saved() -> None:
    """JSON keeps neither integer keys nor tuples; reading back must restore both."""
    pooled = RunResult("imessage", 200, turns=12, errors=1, seconds=2.5, server_cpu=0.1,
                       server_kernel_cpu=0.004, acks=[0.003, 0.004], latencies=[0.5],
                       rates=[4.0, 5.6])  # fmt: skip
    results = Results(
        machine={"cpus": "2"},
        load_start="0.1 / 0.2 / 0.3",
        seconds=1129.0,
        finished="2026-11-27 18:38 UTC",
        cpu=CpuResult(
            messages=2000,
            cpu_per_message=0.0014,
            statuses={200: 2000},
            top=[("plan_response", 2000, 0.01, 0.02)],
            planning=[("a plain one-line text", 2e-5)],
        ),
        memory={
            "turn_runner": {"rss_before": 1, "rss_peak": 3, "rss_after": 2, "left_in_runner": 0}
        },
        outbound=[OutboundResult("pooled", 16, 600, 1.5, 0.2)],
        throughput={200: {"imessage": pooled, "rest": RunResult("rest", 200, rates=[5.0, 7.0])}},
        herd=RunResult("imessage", 200, acks=[0.07]),
        bursts=[BurstResult("imessage", sequential=[1.0], burst=[0.9], in_order=5)],
        action={"webhook_port": {50: {"imessage": pooled, "rest": RunResult("rest", 50)}}},
        tracker=[
            TrackerCost(6, "none", 0, 10414, 1.3),
            TrackerCost(6, "connector", 300, 15016, 1.4),
            TrackerCost(6, "connector", 300, 15016, 0.4, "cached"),
        ],
        rasas_events={50: {"imessage": pooled, "rest": RunResult("rest", 50)}},
        instructions=[InstructionCount("default options", "rest", 0, 100, 0, 1_969_000_000)],
    )

    read_back = from_json(to_json(results))

    assert read_back == results
    assert list(read_back.throughput) == [200]
    assert read_back.cpu is not None and read_back.cpu.top == [("plan_response", 2000, 0.01, 0.02)]
    assert render(read_back) == render(results)


def test_the_servers_kernel_time_is_pooled_and_shown_per_turn_beside_its_cpu() -> None:
    imessage = RunResult("imessage", 200)
    for kernel in (0.05, 0.07):
        imessage.add(
            RunResult("imessage", 200, turns=400, server_cpu=1.6, server_kernel_cpu=kernel)
        )
    rest = RunResult("rest", 200, turns=800, server_cpu=2.4, server_kernel_cpu=0.04)
    results = Results(
        machine={}, load_start="", throughput={200: {"imessage": imessage, "rest": rest}}
    )

    assert imessage.server_kernel_cpu == pytest.approx(0.12)
    lines = render(results).splitlines()
    header = next(line for line in lines if "server CPU ms per turn (iMessage / REST)" in line)
    row = next(line for line in lines if line.startswith("| 200 | 800 |"))
    cells = dict(zip(header.split(" | "), row.split(" | ")))
    assert cells["server CPU ms per turn (iMessage / REST)"] == "4.0 / 3.0"
    assert cells["of which in the kernel"] == "0.15 / 0.05"


def test_runs_saved_before_kernel_time_was_kept_show_it_as_not_measured() -> None:
    runs = {"imessage": RunResult("imessage", 50, turns=10, server_cpu=0.05,
                                  server_kernel_cpu=0.002),
            "rest": RunResult("rest", 50, turns=10, server_cpu=0.04)}  # fmt: skip
    old = Results(machine={}, load_start="", throughput={50: {
        channel: RunResult(run.channel, 50, turns=10, server_cpu=run.server_cpu)
        for channel, run in runs.items()}})  # fmt: skip

    assert "| 5.0 / 4.0 | 0.20 / n/a |" in render(
        Results(machine={}, load_start="", throughput={50: runs})
    )
    assert "of which in the kernel" not in render(old)


def test_section_7_compares_each_lookup_of_event_classes_with_rasas_walk() -> None:
    """The metadata's cost within the same lookup; the cached lookup against Rasa's walk for
    the same conversation."""
    rows = [
        TrackerCost(100, "none", 2, 70497, 10.0),
        TrackerCost(100, "connector", 334, 136902, 10.5),
        TrackerCost(100, "none", 2, 70497, 2.5, "cached"),
        TrackerCost(100, "connector", 334, 136902, 3.0, "cached"),
    ]
    report = render(Results(machine={}, load_start="", tracker=rows))
    section = report.split("## 7. ", 1)[1].split("\n#", 1)[0]
    assert [line for line in section.splitlines() if line.startswith("| 100")] == [
        "| 100 | none (as REST) | Rasa's walk | 2 | 70497 | 10.00 |  |  |",
        "| 100 | the connector's, text message | Rasa's walk | 334 | 136902 | 10.50 | +0.50 |  |",
        "| 100 | none (as REST) | by name (`cache_event_types`) | 2 | 70497 | 2.50 |  | 4.0x |",
        "| 100 | the connector's, text message | by name (`cache_event_types`) | 334 | 136902 "
        "| 3.00 | +0.50 | 3.5x |",
    ]


def _counts(server: str, rest: List[int], imessage: List[int]) -> List[InstructionCount]:
    runs = [InstructionCount(server, "rest", n, 100, 0, count) for n, count in enumerate(rest)]
    return runs + [
        InstructionCount(server, "imessage", n, 100, 0, count) for n, count in enumerate(imessage)
    ]


def test_section_8_reports_rest_over_the_connector_per_round() -> None:
    """Per turn, REST's count over the connector's of the same round: fewer instructions for
    the connector reads above 1."""
    counts = _counts("default options", [1_970_000_000, 1_950_000_000],
                     [3_090_000_000, 3_100_000_000])  # fmt: skip
    counts += _counts("section 1f", [1_976_000_000, 1_951_000_000],
                      [1_900_000_000, 2_074_000_000])  # fmt: skip
    report = render(Results(machine={}, load_start="", instructions=counts))
    section = report.split("## 8. ", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith(("| default", "| section"))]
    assert rows == [
        "| default options | 30.90 / 31.00 | 19.70 / 19.50 | 0.63 (0.62-0.63) | 0 |",
        "| section 1f | 19.00 / 20.74 | 19.76 / 19.51 | 0.99 (0.94-1.04) | 0 |",
    ]


def test_a_count_is_read_from_the_dump_of_its_own_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "callgrind.out"
    for part, name, total in ((1, "rest-0", 1969), (2, "imessage-0", 3087)):
        (tmp_path / f"callgrind.out.4242.{part}").write_text(
            f"version: 1\ndesc: Trigger: dump {name}\nsummary: {total}\ntotals: {total}\n"
        )
    assert dump_total(out, "imessage-0") == 3087
    assert dump_total(out, "rest-0") == 1969


async def test_the_in_process_harness_runs_the_connectors_whole_path_to_the_stand_in() -> None:
    """Section 6's harness: every webhook acked, each greeting sent as two bubbles after a
    show-typing call, and nothing left running (it waits for the side tasks too)."""
    pytest.importorskip("rasa.core.channels", reason="needs rasa")
    from bench.inproc import Harness
    from bench.load import webhook_body
    from bench.standin import StandIn

    stand_in = StandIn()
    url = await stand_in.start()
    harness = Harness(url)
    try:
        await harness.run((webhook_body(f"+1555{n:07d}", "hi") for n in range(10)), window=4)
        assert harness.statuses == {200: 10}
        assert (stand_in.sends, stand_in.typing) == (20, 10)
        assert not harness.channel.conversations.side_tasks
    finally:
        await harness.aclose()
        await stand_in.stop()


def test_profiled_functions_are_named_without_this_machines_paths() -> None:
    checkout = Path(__file__).resolve().parent.parent
    assert (
        _where(str(checkout / "bench" / "inproc.py"), 38, "_answer") == "bench/inproc.py:38 _answer"
    )
    assert (
        _where(str(checkout / "rasa_imessage" / "intake.py"), 5, "answer_webhook")
        == "rasa_imessage/intake.py:5 answer_webhook"
    )
    assert (
        _where("/opt/venv/lib/python3.10/site-packages/sanic/app.py", 9, "handle")
        == "sanic/app.py:9 handle"
    )
    assert _where("/usr/lib/python3.10/json/decoder.py", 343, "raw_decode") == (
        "json/decoder.py:343 raw_decode"
    )


@contextlib.asynccontextmanager
async def _rasa_stand_in(
    pending: List[int], pid: int = 0
) -> AsyncIterator[Tuple[Driver, List[int]]]:
    """A `Driver` of a stand-in for `rasa run`: its health endpoint reports `pending` turns,
    one figure per request, then the last one again, and its REST channel answers one
    message. The process is `pid` (this test's own by default, idle while the driver
    waits). Also yields the count of health requests, in a list, as they come."""
    asked = [0]

    async def health(request: web.Request) -> web.Response:
        asked[0] += 1
        return web.json_response(
            {"status": "ok", "turns_pending": pending[min(asked[0], len(pending)) - 1]}
        )

    async def rest(request: web.Request) -> web.Response:
        return web.json_response([{"recipient_id": "x", "text": "hi"}])

    app = web.Application()
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_post(REST_PATH, rest)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    server = RasaServer(url, pid or os.getpid(), Path("rasa.log"), 0.0, 0.0)
    try:
        async with aiohttp.ClientSession() as session:
            yield Driver(server, None, session), asked  # type: ignore[arg-type]
    finally:
        await runner.cleanup()


async def _settling(pending: List[int], budget: float, pid: int = 0) -> Tuple[bool, int]:
    """What `Driver.settled` returned against `_rasa_stand_in`, and the requests it made."""
    async with _rasa_stand_in(pending, pid) as (driver, asked):
        settled = await driver.settled(budget, quiet=0.05)
    return settled, asked[0]


async def test_a_count_waits_for_the_turns_that_compute_on_after_their_last_reply() -> None:
    assert await _settling([2, 1, 0], budget=30) == (True, 3)
    assert await _settling([0], budget=30) == (True, 1)  # REST's runs: one request, as iMessage's


async def test_a_count_gives_up_on_turns_that_never_end() -> None:
    settled, asked = await _settling([1], budget=0.3)
    assert not settled and asked >= 1


async def test_a_count_waits_while_rasas_process_still_computes() -> None:
    """A process busy on its core is not asked at all: its health answer would be read
    before the work it is doing has ended."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert await _settling([0], budget=0.5, pid=busy.pid) == (False, 0)
    finally:
        busy.kill()
        busy.wait()


async def test_a_run_whose_turns_never_end_is_refused_not_reported() -> None:
    """Its server CPU would leave out work still to come: no figure rather than a wrong one."""
    async with _rasa_stand_in([0]) as (driver, _):
        driver.per_turn["rest"]["hi"] = 1
        run = await driver.closed_loop("rest", 2, 2, "hi", budget=5, probe=False)
    assert (run.turns, run.errors) == (4, 0)
    async with _rasa_stand_in([1]) as (driver, _):
        driver.per_turn["rest"]["hi"] = 1
        with pytest.raises(RuntimeError, match="turns still pending"):
            await driver.closed_loop("rest", 2, 2, "hi", budget=1, probe=False)
