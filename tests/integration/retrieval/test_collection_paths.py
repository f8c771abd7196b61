"""A collection's relative `path` is relative to the config file, not to the working
directory; a missing index is a start-up error naming its absolute path and the command that
builds it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import yaml

from orchestrator.v1 import retrieve_pb2
from orchestrator_server.app import App, StartupError
from orchestrator_server.cli import main
from orchestrator_server.config import load_config
from tests.helpers import running
from tests.integration.retrieval.kb import DIMENSION, write_sources


def write_config(folder: Path, index_path: str) -> Path:
    data = {
        "server": {"address": "127.0.0.1:0"},  # never the default port (tests/conftest.py)
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


async def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    sources = write_sources(project / "sources")
    config = write_config(project, "./indexes/kb")
    assert not Path.cwd().is_relative_to(tmp_path)  # the working directory is elsewhere
    argv = ["index", "build", "--collection", "kb", "--from", str(sources)]
    # The CLI runs its own event loop, so it gets a thread of its own here.
    assert await asyncio.to_thread(main, [*argv, "--config", str(config), "--quiet"]) == 0
    assert (project / "indexes" / "kb" / "manifest.json").is_file()
    assert not os.path.exists("indexes/kb")  # noqa: ASYNC240 - a stat, once

    async with running(load_config(config)) as server:
        reply = await server.stub.Retrieve(
            retrieve_pb2.RetrieveRequest(collection="kb", query="apple banana", k=1)
        )
    assert reply.documents[0].id.startswith("fruit-")


async def test_a_missing_index_names_its_absolute_path_and_the_build_command(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, "indexes/missing")
    app = App(load_config(config), config_path=config)
    with pytest.raises(StartupError) as caught:
        await app.start()
    expected = tmp_path / "indexes" / "missing"
    assert str(caught.value) == (
        f"collection 'kb': no index at {expected} (manifest.json is missing); "
        f"build it with: orchestrator index build --collection kb --from DOCUMENTS "
        f"--config {config}"
    )
