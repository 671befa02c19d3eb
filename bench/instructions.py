"""Section 8: instructions per turn in Rasa's process, counted by callgrind.

Turns/s on a shared machine vary by 15-25 % between identical runs, more than the gap that
section 1 measures. The instructions a process executes do not depend on what else the
machine does. So `rasa run` runs under valgrind's callgrind with counting off, counting is
switched on for each closed-loop run alone (`callgrind_control`), and the count is that of
the run's turns in Rasa's process; its child processes (the send worker, the webhook port)
are not traced and run at full speed. Valgrind makes the process 25-50 times slower,
so the runs are small (CONVERSATIONS x TURNS). A count repeats to within a few percent:
it shows what a change to the connector costs or saves on Rasa's core, the core that limits
section 1 (FINDINGS, ninth round). It is not section 1's ratio: natively an instruction
does not take the same time everywhere, and turns interleave otherwise at full speed.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Mapping, Optional, Tuple

from .e2e import OFFLOADED_OPTIONS
from .load import Driver, driven
from .stack import rasa_server
from .standin import StandIn

__all__ = ["SERVERS", "InstructionCount", "count_instructions", "dump_total", "missing_tool"]

CONVERSATIONS, TURNS = 20, 5
ROUNDS = 2
BUDGET = 900.0  # seconds per run at most: valgrind is slow, not stuck
STARTUP_TIMEOUT = 900.0  # Rasa's imports and model load, 5-8 times slower under valgrind
# scipy.stats' boost extension fails to initialise under valgrind (SystemError); the bot
# never calls it, so this folder's sitecustomize stands in for it in the traced process.
VALGRIND_SITE = Path(__file__).resolve().parent / "valgrind_site"
# label -> (connector options, webhooks on a port of their own)
SERVERS: Tuple[Tuple[str, Mapping[str, object], bool], ...] = (
    ("default options", {}, False),
    ("section 1f: one request per turn, send_worker, webhook_port", OFFLOADED_OPTIONS, True),
)
_TOOLS = ("valgrind", "callgrind_control")
_ORDER = ("rest", "imessage")  # in each round


@dataclass
class InstructionCount:
    server: str
    channel: str
    round: int
    turns: int
    errors: int
    instructions: int

    @property
    def per_turn(self) -> float:
        return self.instructions / self.turns if self.turns else float("nan")


def missing_tool() -> Optional[str]:
    """Why the section cannot run here (valgrind is a Debian package), or None."""
    absent = [tool for tool in _TOOLS if shutil.which(tool) is None]
    return f"{', '.join(absent)} not installed (apt-get install valgrind)" if absent else None


async def count_instructions(
    stand_in: StandIn, url: str, progress: Callable[[str], None], rounds: int = ROUNDS
) -> List[InstructionCount]:
    counts: List[InstructionCount] = []
    for label, options, own_port in SERVERS:
        progress(f"8. instructions per turn under callgrind: {label}")
        counts += await _one_server(stand_in, url, label, options, own_port, rounds, progress)
    return counts


async def _one_server(
    stand_in: StandIn,
    url: str,
    label: str,
    options: Mapping[str, object],
    own_port: bool,
    rounds: int,
    progress: Callable[[str], None],
) -> List[InstructionCount]:
    with tempfile.TemporaryDirectory(prefix="rasa-imessage-callgrind-") as folder:
        out = Path(folder) / "callgrind.out"
        prefix = ("valgrind", "--tool=callgrind", "--instr-atstart=no",
                  f"--callgrind-out-file={out}.%p")  # fmt: skip
        async with rasa_server(
            url, options, progress, first_on_path=VALGRIND_SITE, own_webhook_port=own_port,
            run_prefix=prefix, startup_timeout=STARTUP_TIMEOUT,
        ) as server, driven(
            server, stand_in, ("hi",), timeout=BUDGET, keepalive=BUDGET
        ) as driver:  # fmt: skip
            for channel in _ORDER:  # warm: first calls import and cache
                await driver.closed_loop(channel, CONVERSATIONS, 2, "hi", BUDGET, probe=False)
            return [
                await _counted(driver, server.pid, out, label, channel, round_, progress)
                for round_ in range(rounds)
                for channel in _ORDER
            ]


async def _counted(
    driver: Driver,
    pid: int,
    out: Path,
    label: str,
    channel: str,
    round_: int,
    progress: Callable[[str], None],
) -> InstructionCount:
    """One closed-loop run with counting on, then its count from the dump."""
    await _control("--zero", pid)
    await _control("--instr=on", pid)
    try:
        # No prober: at 40 webhooks a second of wall time, against a server 25-50 times
        # slower, its webhooks would outnumber the turns and be counted with them.
        # It returns once Rasa's process is done with the turns (`Driver.settled`), not at
        # their last reply: a turn may compute on after it. Health requests either way.
        run = await driver.closed_loop(channel, CONVERSATIONS, TURNS, "hi", BUDGET, probe=False)
    finally:
        await _control("--instr=off", pid)
    name = f"{channel}-{round_}"
    await _control(f"--dump={name}", pid)
    count = InstructionCount(label, channel, round_, run.turns, run.errors, dump_total(out, name))
    progress(f"  {channel}: {count.per_turn / 1e6:.2f} M per turn")
    return count


async def _control(argument: str, pid: int) -> None:
    process = await asyncio.create_subprocess_exec(
        "callgrind_control", argument, str(pid),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, error = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"callgrind_control {argument} failed: {error.decode().strip()}")


def dump_total(out: Path, name: str) -> int:
    """The instruction total of the dump named `name` (callgrind writes one file each)."""
    for path in out.parent.glob(out.name + ".*"):
        text = path.read_text("utf-8", errors="replace")
        if f"desc: Trigger: dump {name}\n" in text:
            found = re.search(r"^totals: (\d+)", text, re.MULTILINE)
            if found:
                return int(found.group(1))
    raise RuntimeError(f"no callgrind dump named {name} in {out.parent}")
