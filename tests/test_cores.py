"""usable_cores: what `send_worker: auto` decides on, read from fake cgroup trees."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

from rasa_imessage.cores import cgroup_quota, usable_cores


def tree(tmp_path: Path, files: Dict[str, str], own: str = "") -> Tuple[Path, Path]:
    root, proc = tmp_path / "cgroup", tmp_path / "proc"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text(f"0::/{own}\n" if own else "", encoding="ascii")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="ascii")
    return root, proc


@pytest.mark.parametrize(
    ("files", "own", "expected"),
    [
        ({"cpu.max": "150000 100000\n"}, "", 1.5),  # v2, a container's own namespace
        (
            {"kubepods/pod1/cpu.max": "50000 100000\n", "cpu.max": "max 100000"},
            "kubepods/pod1",
            0.5,
        ),
        ({"cpu.max": "max 100000\n"}, "", None),  # v2 without a limit
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, "", 2.0),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, "", None),
        ({"cpu.max": "lots of\n"}, "", None),
        ({}, "", None),  # no cgroup file system at all
    ],
)
def test_the_cgroup_quota(tmp_path, files, own, expected: Optional[float]) -> None:
    root, proc = tree(tmp_path, files, own)
    assert cgroup_quota(root, proc) == expected


def test_a_quota_caps_the_affinity_and_none_leaves_it(tmp_path) -> None:
    affinity = float(len(os.sched_getaffinity(0)))
    root, proc = tree(tmp_path, {"cpu.max": "50000 100000"})
    assert usable_cores(root, proc) == min(affinity, 0.5)
    root, proc = tree(tmp_path / "none", {})
    assert usable_cores(root, proc) == affinity
