"""Index build -> info -> load round trip through the CLI, the checks made at start
(mismatched embedder, corrupt or missing index), approximate indexes, and the demo
collection the embedded config serves."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import json_format

from orchestrator.v1 import retrieve_pb2
from orchestrator_server.app import App, StartupError
from orchestrator_server.cli import main
from orchestrator_server.config.retrieval import IndexOptions
from orchestrator_server.retrieval.manifest import MANIFEST_FILE
from tests.helpers import embedded_config, error_reason, make_config, mock_provider, running
from tests.integration.retrieval.kb import abuild, collection, write_sources

QUERY = retrieve_pb2.RetrieveRequest(collection="kb", query="apple banana cherry", k=3)


def write_config(path: Path, index: Path, **fields: Any) -> Path:
    data = {
        "providers": [{"name": "m", "kind": "mock", "model": "m"}],
        "retrieval": {"collections": [collection(index, **fields)]},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


async def test_cli_build_info_and_load_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = write_sources(tmp_path / "sources")
    (sources / "notes.md").write_text("# Notes\n\nThe ocean is deep and blue.\n")
    (sources / "skip.pdf").write_bytes(b"%PDF")  # not a text format: ignored
    index = tmp_path / "index"
    config = write_config(tmp_path / "config.yaml", index)
    argv = ["index", "build", "--collection", "kb", "--from", str(sources)]
    # The CLI runs its own event loop, so it gets a thread of its own here.
    assert await asyncio.to_thread(main, [*argv, "--config", str(config), "--quiet"]) == 0
    assert "7 chunks from 7 documents" in capsys.readouterr().out

    assert main(["index", "info", str(index)]) == 0
    info = capsys.readouterr().out
    assert "hashing hashing-v1, 256 dimensions" in info
    assert "7 chunks from 7 documents" in info
    assert main(["index", "info", str(index), "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["embedder"] == {"kind": "hashing", "model": "hashing-v1", "dimension": 256}
    assert (manifest["chunks"], manifest["documents"], manifest["index"]) == (
        7,
        7,
        {"type": "flat"},
    )
    assert manifest["build_seconds"] >= 0
    assert manifest["built_at"]

    async with running(make_config(mock_provider("a"), retrieval=_retrieval(index))) as server:
        reply = await server.stub.Retrieve(QUERY)
        notes = await server.stub.Retrieve(
            retrieve_pb2.RetrieveRequest(collection="kb", query="deep blue ocean", k=1)
        )
    assert reply.documents[0].id == "fruit-1#0"
    assert notes.documents[0].id == "notes.md#0"
    assert notes.documents[0].metadata["source"] == "notes.md"


def _retrieval(folder: Path, **fields: Any) -> dict[str, Any]:
    return {"collections": [collection(folder, **fields)]}


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "config.yaml", tmp_path / "index")
    assert main(["index", "build", "--collection", "zz", "--from", ".", "--config", str(config)])
    assert "no collection named 'zz' (configured: kb)" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["index", "build", "--collection", "kb", "--from", str(empty), "--config",
                 str(config), "--quiet"]) == 1  # fmt: skip
    assert "no text found" in capsys.readouterr().err
    assert main(["index", "info", str(tmp_path / "nowhere")]) == 1
    assert "manifest.json is missing" in capsys.readouterr().err
    # The demo index is part of the package: rebuilt only on purpose, with --out.
    assert main(["index", "build", "--collection", "docs", "--from", str(empty)]) == 2
    assert "give --out" in capsys.readouterr().err


async def test_a_mismatched_embedder_is_refused_at_start(tmp_path: Path) -> None:
    index = await abuild(tmp_path)
    wrong_size = {"embedder": {"kind": "hashing", "model": "hashing-v1", "dimension": 128}}
    with pytest.raises(StartupError) as caught:
        await App(
            make_config(mock_provider("a"), retrieval=_retrieval(index, **wrong_size))
        ).start()
    message = str(caught.value)
    assert "collection 'kb'" in message
    assert "built with hashing hashing-v1, 256 dimensions" in message
    assert "hashing hashing-v1, 128 dimensions" in message

    optional = _retrieval(index, required=False, **wrong_size)
    async with running(make_config(mock_provider("a"), retrieval=optional)) as server:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await server.stub.Retrieve(QUERY)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(refused.value) == "COLLECTION_UNAVAILABLE"
    assert "built with" in refused.value.details()


async def test_another_embedder_model_is_refused(tmp_path: Path) -> None:
    index = await abuild(tmp_path)
    manifest = json.loads((index / MANIFEST_FILE).read_text())
    manifest["embedder"]["model"] = "hashing-v0"
    (index / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(StartupError, match=r"collection 'kb'.*built with hashing hashing-v0"):
        await App(make_config(mock_provider("a"), retrieval=_retrieval(index))).start()


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda index: (index / "index.faiss").write_bytes(b"not an index"), "not a faiss index"),
        (lambda index: (index / MANIFEST_FILE).write_text("{"), "manifest.json is unreadable"),
        (lambda index: (index / MANIFEST_FILE).unlink(), "manifest.json is missing"),
        (lambda index: (index / "documents.jsonl").write_text("{}\n"), "not a passage record"),
        (
            lambda index: (index / "documents.jsonl").write_text(
                (index / "documents.jsonl").read_text().splitlines()[0] + "\n"
            ),
            "holds 6 vectors but 1 passages",
        ),
    ],
)
async def test_a_corrupt_index_is_a_start_error_naming_the_collection(
    tmp_path: Path, damage: Any, problem: str
) -> None:
    index = await abuild(tmp_path)
    damage(index)
    with pytest.raises(StartupError) as caught:
        await App(make_config(mock_provider("a"), retrieval=_retrieval(index))).start()
    assert "collection 'kb'" in str(caught.value)
    assert problem in str(caught.value)


async def test_an_optional_broken_collection_leaves_the_rest_serving(tmp_path: Path) -> None:
    index = await abuild(tmp_path)
    retrieval = {
        "collections": [
            collection(index),
            {**collection(tmp_path / "missing", required=False), "name": "gone"},
        ]
    }
    async with running(make_config(mock_provider("a"), retrieval=retrieval)) as server:
        ok = await server.stub.Retrieve(QUERY)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Retrieve(
                retrieve_pb2.RetrieveRequest(collection="gone", query="q", k=1)
            )
    assert ok.documents[0].id == "fruit-1#0"
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "collection 'gone'" in caught.value.details()


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
async def test_approximate_indexes_answer_like_the_exact_one(tmp_path: Path, kind: str) -> None:
    options = IndexOptions(type=kind, nlist=2, nprobe=2)  # type: ignore[arg-type]
    index = await abuild(tmp_path, options)
    manifest = json.loads((index / MANIFEST_FILE).read_text())
    assert manifest["index"]["type"] == kind
    retrieval = _retrieval(index, index={"type": kind, "nprobe": 2})
    async with running(make_config(mock_provider("a"), retrieval=retrieval)) as server:
        reply = await server.stub.Retrieve(QUERY)
        mmr = await server.stub.Retrieve(
            retrieve_pb2.RetrieveRequest(
                collection="kb", query=QUERY.query, k=2, search_type=2, lambda_mult=0.25
            )
        )
    assert [d.id for d in reply.documents] == ["fruit-1#0", "fruit-2#0", "fruit-3#0"]
    assert mmr.documents[0].id == "fruit-1#0"


async def test_the_embedded_config_serves_the_demo_collection() -> None:
    async with running(embedded_config()) as server:
        reply = await server.stub.Retrieve(
            retrieve_pb2.RetrieveRequest(
                collection="docs", query="how does fallback between providers work", k=3
            )
        )
    assert len(reply.documents) == 3
    assert all(d.content and d.metadata["source"] for d in reply.documents)
    assert reply.documents[0].score > 0


def docs_filter_example() -> retrieve_pb2.RetrieveRequest:
    text = (Path(__file__).resolve().parents[3] / "docs" / "retrieval.md").read_text()
    example = re.search(r"-d '(\{\n  \"collection\": \"docs\".*?\})' localhost", text, re.S)
    assert example is not None
    return json_format.Parse(example.group(1), retrieve_pb2.RetrieveRequest())


async def test_the_docs_filter_example_matches_the_demo_collection() -> None:
    """docs/retrieval.md's `$in` example names sources as the demo index stores them."""
    request = docs_filter_example()
    async with running(embedded_config()) as server:
        reply = await server.stub.Retrieve(request)
    assert len(reply.documents) == request.k
    for doc in reply.documents:
        assert doc.metadata["source"] in ("docs/routing.md", "README.md")
        assert doc.metadata["chunk"] < 10
