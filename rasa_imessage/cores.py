"""How many cores this process may use: what `send_worker: auto` decides on.

`os.cpu_count()` counts the machine's cores, not what a container may use. A container is
limited by its CPU affinity (`--cpuset-cpus`) or by a CFS quota (`--cpus`, Kubernetes CPU
limits), which cgroups publish: `cpu.max` (v2) or `cpu.cfs_quota_us` (v1).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

__all__ = ["usable_cores"]

_CGROUP = Path("/sys/fs/cgroup")


def usable_cores(cgroup_root: Path = _CGROUP, proc_self: Path = Path("/proc/self")) -> float:
    """The cores this process may keep busy: its affinity, capped by a cgroup CPU quota."""
    try:
        cores = float(len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        cores = float(os.cpu_count() or 1)
    quota = cgroup_quota(cgroup_root, proc_self)
    return min(cores, quota) if quota is not None else cores


def cgroup_quota(cgroup_root: Path, proc_self: Path) -> Optional[float]:
    """Cores' worth of CPU time the process's cgroup allows, or None without a limit."""
    for folder in (cgroup_root / _own_cgroup(proc_self), cgroup_root):  # v2, own then root
        fields = _read(folder / "cpu.max").split()
        if len(fields) == 2 and fields[0] != "max":
            return _ratio(fields[0], fields[1])
    quota = _read(cgroup_root / "cpu" / "cpu.cfs_quota_us").strip()  # v1
    period = _read(cgroup_root / "cpu" / "cpu.cfs_period_us").strip()
    return _ratio(quota, period)


def _own_cgroup(proc_self: Path) -> str:
    for line in _read(proc_self / "cgroup").splitlines():
        if line.startswith("0::"):  # the v2 hierarchy
            return line[3:].lstrip("/")
    return ""


def _ratio(quota: str, period: str) -> Optional[float]:
    try:
        value, base = int(quota), int(period)
    except ValueError:
        return None
    return value / base if value > 0 and base > 0 else None  # v1 writes -1 for none


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return ""
