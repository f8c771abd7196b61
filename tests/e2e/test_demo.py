"""`make demo` works: the scripted session against every provider emulator completes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_and_shows_routing_fallback_and_streams() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for provider in ("openai", "gigachat", "yandexgpt", "ollama", "anthropic", "gemini"):
        assert f"'Hello from the {provider} emulator!'" in out
    assert "trail: openai:unavailable -> gigachat:ok" in out
    assert out.count("deltas:") == 6
