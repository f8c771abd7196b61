"""The hashing embedder's second generation (the default): stop words and a light stemmer,
sublinear counts, and IDF fitted on the collection at build time, stored with the index and
loaded with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orchestrator.v1 import retrieve_pb2
from orchestrator_server.app import App, StartupError
from orchestrator_server.config.retrieval import ChunkingConfig, IndexOptions
from orchestrator_server.retrieval.build import build_index
from orchestrator_server.retrieval.embedders.base import Purpose
from orchestrator_server.retrieval.embedders.hashing import HashingEmbedder, _stem
from orchestrator_server.retrieval.manifest import STATE_FILE
from tests.helpers import make_config, mock_provider, running

PASSAGES = [
    "The provider answers every request quickly.",
    "Each provider has a circuit breaker that opens after failures.",
    "A provider retries a failed request once before the router falls back.",
    "The provider list is read from the configuration file.",
]


def fitted(texts: list[str], dimension: int = 1024) -> HashingEmbedder:
    embedder = HashingEmbedder(dimension)
    embedder.fit(texts)
    return embedder


def ranking(embedder: HashingEmbedder, query: str) -> list[int]:
    vectors = embedder.embed_sync(PASSAGES, Purpose.DOCUMENT)
    (q,) = embedder.embed_sync([query], Purpose.QUERY)
    return [int(i) for i in np.argsort(-(vectors @ q))]


@pytest.mark.parametrize(
    ("word", "stem"),
    [("retries", "retry"), ("providers", "provider"), ("streaming", "stream"),
     ("failed", "fail"), ("status", "status"), ("address", "address"), ("ключи", "ключи")],
)  # fmt: skip
def test_the_stemmer_joins_plurals_and_verb_forms(word: str, stem: str) -> None:
    assert _stem(word) == stem


def test_a_rare_word_outweighs_one_every_passage_has() -> None:
    embedder = fitted(PASSAGES)
    # "provider" is in every passage, so IDF makes it nearly worthless; "breaker" decides.
    assert ranking(embedder, "provider breaker")[0] == 1
    # Stop words and word forms: "how does it retry" is about retries.
    assert ranking(embedder, "how does it retry")[0] == 2


def test_an_unfitted_v2_embedder_refuses_to_embed() -> None:
    with pytest.raises(RuntimeError, match="IDF state"):
        HashingEmbedder(64).embed_sync(["text"], Purpose.QUERY)
    assert HashingEmbedder(64, model="hashing-v1").embed_sync(["text"], Purpose.QUERY).shape == (
        1,
        64,
    )


def test_the_state_survives_a_round_trip() -> None:
    embedder = fitted(PASSAGES)
    again = HashingEmbedder(1024)
    again.load_state(embedder.state())
    for text in ("circuit breaker", "provider retries"):
        assert np.array_equal(
            embedder.embed_sync([text], Purpose.QUERY), again.embed_sync([text], Purpose.QUERY)
        )
    with pytest.raises(ValueError, match="another version or model"):
        HashingEmbedder(1024, model="hashing-v1").load_state(embedder.state())


async def build(folder: Path, model: str = "hashing-v2") -> Path:
    sources = folder / "sources"
    sources.mkdir(parents=True)
    for i, text in enumerate(PASSAGES):
        (sources / f"p{i}.txt").write_text(text)
    await build_index(
        name="kb", sources=[sources], embedder=HashingEmbedder(1024, model=model),
        options=IndexOptions(), chunking=ChunkingConfig(), out=folder / "index",
    )  # fmt: skip
    return folder / "index"


def config(index: Path, **embedder: str) -> dict[str, object]:
    entry = {"kind": "hashing", "dimension": 1024, **embedder}
    return {"collections": [{"name": "kb", "path": str(index), "embedder": entry}]}


async def test_built_loaded_and_served_with_its_idf(tmp_path: Path) -> None:
    index = await build(tmp_path)
    assert (index / STATE_FILE).is_file()
    async with running(make_config(mock_provider("m"), retrieval=config(index))) as server:
        reply = await server.stub.Retrieve(
            retrieve_pb2.RetrieveRequest(collection="kb", query="provider breaker", k=1)
        )
    assert reply.documents[0].id == "p1.txt#0"


async def test_a_missing_state_or_another_generation_is_a_start_error(tmp_path: Path) -> None:
    index = await build(tmp_path)
    (index / STATE_FILE).unlink()
    with pytest.raises(StartupError, match=f"{STATE_FILE} is missing; rebuild the index"):
        await App(make_config(mock_provider("m"), retrieval=config(index))).start()
    old = await build(tmp_path / "old", model="hashing-v1")
    with pytest.raises(StartupError) as caught:
        await App(make_config(mock_provider("m"), retrieval=config(old))).start()
    assert "built with hashing hashing-v1, 1024 dimensions" in str(caught.value)
    assert "configured embedder is hashing hashing-v2" in str(caught.value)
    # Pinned to the generation that built it, the old index serves on.
    pinned = make_config(mock_provider("m"), retrieval=config(old, model="hashing-v1"))
    async with running(pinned) as server:
        reply = await server.stub.Retrieve(
            retrieve_pb2.RetrieveRequest(collection="kb", query="circuit breaker", k=1)
        )
    assert reply.documents[0].id == "p1.txt#0"
