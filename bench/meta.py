"""What every result file records about its run: the date, the command that reruns it, the
machine, the gateway's commit, and how busy the machine was when it started."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def gateway_revision() -> str:
    """The commit the gateway ran from, and whether server/ had uncommitted changes."""

    def git(*words: str) -> str:
        proc = subprocess.run(["git", *words], cwd=BENCH, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "../server")
    return f"{commit} + uncommitted changes in server/" if dirty else commit


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def command(script: str, argv: Sequence[str] | None) -> str:
    """The command line that reruns this run, from the repository's root."""
    words = list(sys.argv[1:] if argv is None else argv)
    return shlex.join([".venv/bin/python", f"bench/{script}", *words])


def run_meta(script: str, argv: Sequence[str] | None) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": command(script, argv),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "gateway_revision": gateway_revision(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def header_lines(meta: dict[str, Any]) -> list[str]:
    """The Markdown lines every result page starts with."""
    load = ", ".join(f"{v:g}" for v in meta["load_average_at_start"])
    return [
        f"- date: {meta['date']}",
        f"- command: `{meta['command']}`",
        f"- machine: {meta['nproc']} CPUs ({meta['cpu']}), Python {meta['python']}; "
        f"load average at start {load}",
        f"- gateway: commit {meta['gateway_revision']}",
    ]
