"""A collection's relative `path` is relative to the config file, whoever starts the server
from wherever; a missing index is a start-up error naming its absolute path and the command
that builds it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc
import yaml

from orchestrator.v1 import orchestrator_service_pb2_grpc, retrieve_pb2
from tests.integration.retrieval.kb import DIMENSION, write_sources
from tests.serving import LIMIT, serving, start_serving


def write_config(folder: Path, index_path: str) -> Path:
    data = {
        "providers": [{"name": "m", "kind": "mock", "model": "m"}],
        "retrieval": {
            "collections": [
                {
                    "name": "kb",
                    "path": index_path,
                    "embedder": {"kind": "hashing", "dimension": DIMENSION},
                }
            ]
        },
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


async def orchestrator(*args: str, cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator_server", *args, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), LIMIT)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    elsewhere.mkdir()
    sources = write_sources(project / "sources")
    config = write_config(project, "./indexes/kb")
    code, out = await orchestrator(
        "index", "build", "--collection", "kb", "--from", str(sources),
        "--config", str(config), "--quiet", cwd=elsewhere,
    )  # fmt: skip
    assert code == 0, out
    assert (project / "indexes" / "kb" / "manifest.json").is_file()
    assert not (elsewhere / "indexes").exists()

    async with (
        serving("--config", str(config), cwd=elsewhere) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = orchestrator_service_pb2_grpc.OrchestratorServiceStub(channel)
        reply = await stub.Retrieve(
            retrieve_pb2.RetrieveRequest(collection="kb", query="apple banana", k=1)
        )
    assert reply.documents[0].id.startswith("fruit-")


async def test_a_missing_index_names_its_absolute_path_and_the_build_command(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, "indexes/missing")
    server = await start_serving(
        ["--config", str(config), "--address", "127.0.0.1:0", "--metrics-address", "off"],
        cwd=Path("/"),
    )
    code = await asyncio.wait_for(server.process.wait(), LIMIT)
    await server.stop()
    assert code == 1
    expected = tmp_path / "indexes" / "missing"
    assert f"collection 'kb': no index at {expected} (manifest.json is missing)" in server.log
    assert (
        "build it with: orchestrator index build --collection kb --from DOCUMENTS "
        f"--config {config}"
    ) in server.log
