"""The buf.gen.yaml examples in examples/codegen/ (docs/clients.md) generate what they say,
offline, with local plugins: Go messages and stubs in package orchestratorv1, Java classes
in com.llmorchestrator.v1 with OrchestratorServiceGrpc, C# messages in Orchestrator.V1 (its
gRPC stubs come from a remote plugin, which needs the network, so that step is left out
here)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import require_tool

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "codegen"
BUF = ROOT / "protos/codegen/node_modules/.bin/buf"


def buf() -> str:
    if BUF.exists():
        return str(BUF)
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("buf is required in CI: run `make check-proto` (it installs buf)")
    pytest.skip("buf not installed (`make check-proto` installs it)")


def generate(template: Path, out: Path) -> None:
    done = subprocess.run(
        [buf(), "generate", "--template", str(template), "-o", str(out)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_go(tmp_path: Path) -> None:
    for tool in ("protoc-gen-go", "protoc-gen-go-grpc"):
        require_tool(tool)
    generate(EXAMPLES / "buf.gen.go.yaml", tmp_path)
    folder = tmp_path / "gen/go/orchestrator/v1"
    messages = (folder / "generate.pb.go").read_text()
    stubs = (folder / "orchestrator_service_grpc.pb.go").read_text()
    assert "package orchestratorv1" in messages
    assert "type GenerateRequest struct" in messages
    assert "func NewOrchestratorServiceClient(" in stubs


def test_java(tmp_path: Path) -> None:
    for tool in ("protoc", "grpc_java_plugin"):
        require_tool(tool)
    generate(EXAMPLES / "buf.gen.java.yaml", tmp_path)
    folder = tmp_path / "gen/java/com/llmorchestrator/v1"
    assert "public final class GenerateRequest" in (folder / "GenerateRequest.java").read_text()
    assert "class OrchestratorServiceGrpc" in (folder / "OrchestratorServiceGrpc.java").read_text()
    assert (folder / "CommonProto.java").is_file()  # java_outer_classname


def test_csharp_messages(tmp_path: Path) -> None:
    require_tool("protoc")
    template = yaml.safe_load((EXAMPLES / "buf.gen.csharp.yaml").read_text())
    remote = [p for p in template["plugins"] if "remote" in p]
    assert [p["remote"] for p in remote] == ["buf.build/grpc/csharp"]
    template["plugins"] = [p for p in template["plugins"] if "remote" not in p]
    offline = tmp_path / "buf.gen.yaml"
    offline.write_text(yaml.safe_dump(template))
    generate(offline, tmp_path)
    text = (tmp_path / "gen/csharp/Generate.cs").read_text()
    assert "namespace Orchestrator.V1" in text
    assert "public sealed partial class GenerateRequest" in text


def test_the_docs_show_the_go_example_as_it_is() -> None:
    text = (ROOT / "docs" / "clients.md").read_text()
    header = "```yaml\n# examples/codegen/buf.gen.go.yaml (without its comments)\n"
    shown = text.split(header, 1)[1].split("```", 1)[0]
    assert yaml.safe_load(shown) == yaml.safe_load((EXAMPLES / "buf.gen.go.yaml").read_text())
