"""How many workers `--workers auto` means: the cores this process may run on."""

from __future__ import annotations

import math
import os
from pathlib import Path

MAX_WORKERS = 256
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs in this process's affinity mask, capped by a cgroup v2 CPU quota (a container
    limited to 2 CPUs on a 64-core node gets 2 workers, not 64)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota(cpu_max)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def _cgroup_quota(path: Path) -> float | None:
    """CPUs allowed by "QUOTA PERIOD" in cpu.max; None for "max" or no cgroup v2."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def parse_workers(value: str) -> int:
    """`auto` or a whole number from 1 to MAX_WORKERS; ValueError otherwise."""
    if value == "auto":
        return min(available_cores(), MAX_WORKERS)
    count = int(value)
    if not 1 <= count <= MAX_WORKERS:
        raise ValueError(f"between 1 and {MAX_WORKERS}, or auto")
    return count
