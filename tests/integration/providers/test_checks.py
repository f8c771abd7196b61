"""`orchestrator check-providers`: every adapter's free health check, run together."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator_server.providers.checks import check_providers
from orchestrator_server.providers.registry import build_providers
from tests.emulators.openai import OpenAIEmulator
from tests.helpers import http_provider, make_config, mock_provider


async def test_checks_report_each_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECK_KEY", "sk-check")
    async with OpenAIEmulator() as good, OpenAIEmulator() as bad:
        bad.set(mode="error", status=401)
        config = make_config(
            http_provider(
                "openai", "good", f"{good.base_url}/v1", model="m", api_key_env="CHECK_KEY"
            ),
            http_provider(
                "openai", "bad", f"{bad.base_url}/v1", model="m", api_key_env="CHECK_KEY"
            ),
            mock_provider("down", mode="unhealthy"),
        )
        providers = build_providers(config.providers)
        try:
            results = await check_providers(providers, timeout=5)
        finally:
            for provider in providers:
                await provider.aclose()
    assert [(r.provider, r.ok, r.error_code) for r in results] == [
        ("good", True, ""),
        ("bad", False, "auth"),
        ("down", False, "unavailable"),
    ]
    assert good.calls("/v1/models")[0].headers["authorization"] == "Bearer sk-check"
    assert "sk-check" not in " ".join(r.message for r in results)


async def test_a_hanging_provider_times_out() -> None:
    async with OpenAIEmulator() as slow:
        slow.set(mode="hang")
        providers = build_providers(
            make_config(http_provider("openai", "slow", f"{slow.base_url}/v1", model="m")).providers
        )
        try:
            [result] = await check_providers(providers, timeout=0.05)
        finally:
            await providers[0].aclose()
    assert (result.ok, result.error_code) == (False, "timeout")


def test_command_on_the_embedded_config() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator_server", "check-providers"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mock-fast" in done.stdout
    assert "ok" in done.stdout


async def test_the_command_names_the_url_and_the_kind_of_failure(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v1"  # nothing listens once closed
    unresolvable = "http://user:pw@no-such-host.invalid/v1?k=1"  # RFC 6761: never resolves
    async with OpenAIEmulator() as good:
        config = {
            "providers": [
                http_provider("openai", "good", f"{good.base_url}/v1", model="m"),
                http_provider("openai", "refused", closed, model="m"),
                http_provider("openai", "nodns", unresolvable, model="m"),
            ]
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orchestrator_server", "check-providers",
            "--config", str(path), "--timeout", "5",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1, err
    lines = {line.split()[0]: line for line in out.decode().splitlines()}
    assert lines["good"].endswith(f"ok  ({good.base_url}/v1)")
    assert (
        "FAILED unavailable: cannot connect to the upstream: connection refused"
        in (lines["refused"])
    )
    assert lines["refused"].endswith(f"({closed})")
    assert "its host name does not resolve" in lines["nodns"]
    # The URL is shown without credentials or query.
    assert lines["nodns"].endswith("(http://no-such-host.invalid/v1)")
    assert "pw" not in out.decode()
