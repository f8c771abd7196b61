"""docs/quickstart.md's terminal session, run as written against a fresh server on the
embedded configuration: every `$ ` command of its console blocks, in order, with the output
it shows (`…` stands for what differs per run: request ids, latencies, uptime)."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from tests.helpers import embedded_config, running

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def session(page: Path) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for each `$ ` line of the page's console blocks."""
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif line.strip():
                steps[-1][1].append(line)
    return steps


def matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("…"))
    return re.fullmatch(pattern, actual.rstrip()) is not None


async def test_the_quick_start_session_answers_as_shown() -> None:
    steps = session(ROOT / "docs" / "quickstart.md")
    assert len(steps) == 4
    async with running(embedded_config()) as server:
        env = {**os.environ, "ORCHESTRATOR_ADDRESS": server.target, "PYTHONUNBUFFERED": "1"}
        for command, expected in steps:
            assert command.startswith((".venv/bin/orchestrator ", "for i in"))
            process = await asyncio.create_subprocess_shell(
                f"{command} 2>&1", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                executable="/bin/bash",
            )  # fmt: skip
            out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
            assert process.returncode == 0, out.decode()
            actual = [line for line in out.decode().splitlines() if line.strip()]
            assert len(actual) == len(expected), (command, actual)
            for want, got in zip(expected, actual, strict=True):
                assert matches(want, got), (command, want, got)
