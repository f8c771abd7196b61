"""Every code snippet in README.md and docs/ runs: Python snippets with this interpreter and
Node snippets with node against a real server on the embedded configuration (their
`127.0.0.1:50051` or `localhost:50051` pointed at it, the pictures they open beside them),
and every grpcurl command of the shell snippets with the real grpcurl against one. (YAML
examples are checked in tests/unit/test_docs.py and test_config_describe.py; the quick
start's session, output included, in test_quickstart.py; the Go snippet needs a Go
toolchain, which the checks do not have.)

A grpcurl command is expected to succeed unless the output the docs show for it is an
error; the server serves AdminService to the admin token the docs' commands send
($ORCHESTRATOR_ADMIN_TOKEN), and a block's variable assignments (`AUTH=...`) run before its
commands. The few that cannot run here say why in SKIPPED_GRPCURL.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shlex
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator_server.config.reload import ReloadConfig
from tests.helpers import ADMIN, ADMIN_TOKEN, embedded_config, require_tool, running

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NODE_CLIENT = ROOT / "clients" / "node"
DEFAULT_TARGETS = ("127.0.0.1:50051", "localhost:50051")
LIMIT = 120
# Commands that need what no test has: a provider's real key, or a reachable provider.
SKIPPED_GRPCURL = {
    "<authorization key>": "needs a real GigaChat authorization key",
    '"sk-..."': "needs a real OpenAI key",
    '"t1.…"': "needs a real Yandex IAM token",
    '"collection": "handbook"': "needs the handbook collection the page builds first",
    '{"providers": ["ollama"]}': "shows an Ollama provider's own listing; needs Ollama",
    # tests/e2e/test_grpcurl.py runs grpcurl over TLS and mTLS against a real server.
    "-cacert ca.crt": "needs a TLS gateway at its own host name, with its certificates",
}
PICTURES = ("a.png", "cat.png")
PNG = base64.b64decode(  # 1x1 pixel
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5E"
    "rkJggg=="
)
_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=\S")


def pointed(code: str, target: str) -> str:
    """The snippet with the default address replaced by the test server's."""
    for default in DEFAULT_TARGETS:
        code = code.replace(default, target)
    return code


def blocks(language: str) -> list[tuple[str, str]]:
    """(page:line, code) of every fenced block in `language`, list-item ones included."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        fence = re.compile(rf"^( *)```{language}\n(.*?)^\1```", re.M | re.S)
        for match in fence.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            code = textwrap.dedent(match.group(2))
            found.append((f"{page.relative_to(ROOT)}:{line}", code))
    return found


def grpcurl_commands() -> list[tuple[str, str, bool]]:
    """(page:line, command, expects an error) for each grpcurl command of sh blocks, with the
    block's variable assignments before it."""
    found = []
    for where, code in blocks("sh"):
        lines = code.splitlines()
        prelude = "".join(f"{line}\n" for line in lines if _ASSIGNMENT.match(line))
        i = 0
        while i < len(lines):
            line = lines[i].removeprefix("$ ")
            if not line.startswith("grpcurl "):
                i += 1
                continue
            command = line
            while command.endswith("\\") or command.count("'") % 2:
                i += 1
                command += "\n" + lines[i]  # bash reads the backslash-newline itself
            shown = []
            i += 1
            while i < len(lines) and not lines[i].startswith(("$ ", "grpcurl ", "#")):
                shown.append(lines[i])
                i += 1
            found.append((where, prelude + command, any(s.startswith("ERROR:") for s in shown)))
    return found


async def run(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), LIMIT)
    assert process.returncode is not None
    return process.returncode, out.decode()


def test_every_kind_of_snippet_is_found() -> None:
    assert len(blocks("python")) >= 9
    assert len(blocks("js")) >= 1
    assert len(grpcurl_commands()) >= 20


@pytest.mark.parametrize(("where", "code"), blocks("python"), ids=lambda v: str(v)[:40])
async def test_python_snippet(where: str, code: str, tmp_path: Path) -> None:
    for name in PICTURES:  # the pictures the docs open
        (tmp_path / name).write_bytes(PNG)
    async with running(embedded_config()) as server:
        script = tmp_path / "snippet.py"
        script.write_text(pointed(code, server.target), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "GIGACHAT_AUTH_KEY"}
        code_, out = await run(sys.executable, str(script), cwd=tmp_path, env=env)
    assert code_ == 0, f"{where}\n{out}"


@pytest.mark.parametrize(("where", "code"), blocks("js"), ids=lambda v: str(v)[:40])
async def test_node_snippet(where: str, code: str, tmp_path: Path) -> None:
    node = require_tool("node")
    if not (NODE_CLIENT / "node_modules" / "@grpc" / "grpc-js").is_dir():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("clients/node/node_modules is missing in CI: run `make node-deps`")
        pytest.skip("clients/node dependencies not installed (`make node-deps`)")
    # The package as an installed dependency would be: node_modules/llm-orchestrator-client.
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "llm-orchestrator-client").symlink_to(NODE_CLIENT)
    async with running(embedded_config()) as server:
        script = tmp_path / "snippet.mjs"
        script.write_text(pointed(code, server.target), encoding="utf-8")
        code_, out = await run(node, str(script), cwd=tmp_path)
    assert code_ == 0, f"{where}\n{out}"


@pytest.mark.parametrize(
    ("where", "command", "fails"), grpcurl_commands(), ids=lambda v: str(v)[:50]
)
async def test_grpcurl_command(where: str, command: str, fails: bool, tmp_path: Path) -> None:
    for needle, reason in SKIPPED_GRPCURL.items():
        if needle in command:
            pytest.skip(f"{where}: {reason}")
    grpcurl = require_tool("grpcurl")
    if "jq " in command:
        require_tool("jq")
        # ApplyConfig's new.yaml: the embedded config, as a file would hold it.
        text = (ROOT / "server/orchestrator_server/config/default.yaml").read_text()
        (tmp_path / "new.yaml").write_text(text)
    # As `orchestrator serve --config FILE` runs it (ReloadConfig re-reads that file), with
    # AdminService served to a token.
    config = embedded_config().model_copy(update={"reload": ReloadConfig.model_validate(ADMIN)})
    config_file = tmp_path / "config.yaml"
    config_file.write_text((ROOT / "server/orchestrator_server/config/default.yaml").read_text())
    env = {**os.environ, "ORCHESTRATOR_ADMIN_TOKEN": ADMIN_TOKEN}
    async with running(config, config_path=config_file) as server:
        rewritten = pointed(command, server.target)
        grpcurl_at = f"{shlex.quote(grpcurl)} -max-time 30 "
        rewritten = re.sub(r"^grpcurl ", grpcurl_at, rewritten, flags=re.M)
        code, out = await run("/bin/bash", "-c", rewritten, cwd=tmp_path, env=env)
    if fails:
        assert code != 0, f"{where}: expected an error\n{out}"
        assert "ERROR:" in out
    else:
        assert code == 0, f"{where}\n{command}\n{out}"
