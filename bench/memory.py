"""Section 5: resident memory after 100k conversations and 1M dedupe entries.

Each measurement runs in a fresh interpreter (`python -m bench.memory NAME`), so neither
the rest of the benchmark nor an earlier measurement leaves freed memory behind that a
later one would reuse and hide. RSS is read from /proc (Linux).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
import uuid
from typing import Any, Callable, Dict

from rasa_imessage.idempotency import MemoryStore
from rasa_imessage.tasks import TurnRunner

__all__ = ["measure_all"]

MiB = 1024 * 1024


def rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def _turn_runner(conversations: int = 100_000, wave: int = 1000) -> Dict[str, Any]:
    """Distinct conversations through the TurnRunner, `wave` at a time, then idle."""
    runner = TurnRunner(max_concurrent=8)

    async def job() -> None:
        await asyncio.sleep(0)

    async def run_wave(start: int) -> None:
        for number in range(start, start + wave):
            runner.submit(f"+1555{number:07d}", job)
        await runner.join()

    await run_wave(0)  # warm-up: imports, first allocations
    gc.collect()
    before, peak = rss(), 0
    started = time.perf_counter()
    for start in range(wave, conversations + wave, wave):
        await run_wave(start)
        peak = max(peak, rss())
    seconds = time.perf_counter() - started
    gc.collect()
    return {
        "conversations": conversations,
        "wave": wave,
        "rss_before": before,
        "rss_peak": peak,
        "rss_after": rss(),
        "left_in_runner": runner.conversations,
        "seconds": seconds,
    }


async def _store(entries: int, max_entries: int) -> Dict[str, Any]:
    """`entries` webhook ids claimed and completed, as the channel does for each webhook."""
    store = MemoryStore(max_entries=max_entries)
    gc.collect()
    before = rss()
    started = time.perf_counter()
    for _ in range(entries):
        key = str(uuid.uuid4())
        await store.claim(key)
        await store.complete(key)
    seconds = time.perf_counter() - started
    gc.collect()
    after = rss()
    return {
        "entries": entries,
        "max_entries": max_entries,
        "kept": len(store),
        "rss_before": before,
        "rss_after": after,
        "bytes_per_entry": (after - before) / max(1, len(store)),
        "seconds": seconds,
    }


MEASUREMENTS: Dict[str, Callable[[], Any]] = {
    "turn_runner": lambda: _turn_runner(),
    "store_1m": lambda: _store(1_000_000, 1_000_000),
    "store_default_cap": lambda: _store(1_000_000, 200_000),
}


async def measure_all(progress: Callable[[str], None]) -> Dict[str, Dict[str, Any]]:
    """Each measurement in its own child interpreter."""
    results = {}
    for name in MEASUREMENTS:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.memory", name, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(process.communicate(), 300)
        results[name] = json.loads(out)
        progress(f"  {name}: {json.dumps(results[name])}")
    return results


if __name__ == "__main__":
    print(json.dumps(asyncio.run(MEASUREMENTS[sys.argv[1]]())))
