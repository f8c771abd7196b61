"""`serve --pid-file` and `orchestrator reload` (by the pid file's SIGHUP, and through
AdminService), as docs/reload.md tells an operator to use them."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ADMIN, ADMIN_TOKEN, ADMIN_TOKEN_ENV, mock_provider
from tests.serving import LIMIT, serving

pytestmark = pytest.mark.e2e


def write(path: Path, *providers: dict[str, Any]) -> None:
    # AdminService is served only with a token (the test session sets ADMIN_TOKEN_ENV).
    path.write_text(yaml.safe_dump({"providers": list(providers), "reload": ADMIN}))


async def orchestrator(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if k != "ORCHESTRATOR_ADMIN_TOKEN"},
        **(env or {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator_server", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), LIMIT)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_reload_by_pid_file_and_through_admin_service(tmp_path: Path) -> None:
    config, pid_file = tmp_path / "config.yaml", tmp_path / "run" / "orchestrator.pid"
    pid_file.parent.mkdir()
    write(config, mock_provider("first"))
    async with serving("--config", str(config), "--pid-file", str(pid_file)) as server:
        await server.wait_for(r"pid \d+ in ")
        assert int(pid_file.read_text()) == server.process.pid

        write(config, mock_provider("first"), mock_provider("second"))
        seen = len(server.lines)
        code, out, err = await orchestrator("reload", "--pid-file", str(pid_file))
        assert code == 0, err
        assert f"sent SIGHUP to {server.process.pid}" in out
        line = (await server.wait_for("configuration reloaded", start=seen)).string
        assert "from SIGHUP" in line
        assert "added second" in line

        write(config, mock_provider("second"))
        address = ["--address", server.target]
        # AdminService takes the admin token: from $ORCHESTRATOR_ADMIN_TOKEN by default...
        code, out, err = await orchestrator("reload", "--validate-only", *address)
        assert code == 2
        assert "$ORCHESTRATOR_ADMIN_TOKEN is not set" in err
        token = {"ORCHESTRATOR_ADMIN_TOKEN": ADMIN_TOKEN}
        code, out, err = await orchestrator("reload", "--validate-only", *address, env=token)
        assert code == 0, err
        assert out.startswith("valid, not applied (generation 2 serves on)")
        code, out, err = await orchestrator(
            "reload", *address, env={"ORCHESTRATOR_ADMIN_TOKEN": "not-the-token"}
        )
        assert code == 1
        assert "UNAUTHENTICATED" in err
        # ... or from the variable --auth-token-env names.
        named = ["--auth-token-env", ADMIN_TOKEN_ENV]
        code, out, err = await orchestrator("reload", *address, *named)
        assert code == 0, err
        assert out.splitlines()[:3] == [
            "reloaded: generation 3",
            "  removed    first",
            "  unchanged  second",
        ]
        await server.stop()
    assert not pid_file.exists()  # removed on the way out


async def test_a_stale_pid_file_says_the_server_is_not_running(tmp_path: Path) -> None:
    done = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await done.wait()  # a pid that no longer runs
    pid_file = tmp_path / "stale.pid"
    pid_file.write_text(f"{done.pid}\n")
    code, _, err = await orchestrator("reload", "--pid-file", str(pid_file))
    assert code == 3
    assert f"no process {done.pid}" in err
    pid_file.write_text("not a pid\n")
    code, _, err = await orchestrator("reload", "--pid-file", str(pid_file))
    assert code == 2
    assert "cannot read a pid" in err
