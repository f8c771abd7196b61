"""A small collection with known answers, built with the hashing embedder's first generation
(hashing-v1: raw word features, no IDF), whose scores the tests compute independently."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from orchestrator_server.config.retrieval import ChunkingConfig, IndexOptions
from orchestrator_server.retrieval.build import build_index
from orchestrator_server.retrieval.embedders.hashing import HashingEmbedder

DIMENSION = 256
MODEL = "hashing-v1"
ROWS: list[dict[str, Any]] = [
    {"id": "fruit-1", "text": "apple banana cherry", "lang": "en", "topic": "fruit", "year": 2020},
    {
        "id": "fruit-2",
        "text": "apple banana cherry grape",
        "lang": "en",
        "topic": "fruit",
        "year": 2021,
    },
    {"id": "fruit-3", "text": "apple banana", "lang": "ru", "topic": "fruit", "year": 2022},
    {"id": "tree-1", "text": "apple tree orchard", "lang": "en", "topic": "garden", "year": 2019},
    {
        "id": "sea-1",
        "text": "ocean waves and sand",
        "lang": "ru",
        "topic": "sea",
        "year": 2023,
        "metadata": {"tags": ["blue", "water"]},
    },
    {
        "id": "sea-2",
        "text": "ocean storm",
        "lang": "de",
        "topic": "sea",
        "year": 2018,
        "draft": True,
    },
]


def collection(path: Path, **fields: Any) -> dict[str, Any]:
    return {
        "name": "kb",
        "path": str(path),
        "embedder": {"kind": "hashing", "model": MODEL, "dimension": DIMENSION},
        **fields,
    }


def write_sources(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "\n".join(json.dumps(row) for row in ROWS)
    (folder / "kb.jsonl").write_text(lines + "\n", encoding="utf-8")
    return folder


async def abuild(folder: Path, index: IndexOptions | None = None) -> Path:
    """Builds the collection under `folder` and returns the index folder."""
    sources = write_sources(folder / "sources")
    out = folder / "index"
    await build_index(
        name="kb",
        sources=[sources],
        embedder=HashingEmbedder(DIMENSION, model=MODEL),
        options=index or IndexOptions(),
        chunking=ChunkingConfig(),
        out=out,
    )
    return out


def build(folder: Path, index: IndexOptions | None = None) -> Path:
    return asyncio.run(abuild(folder, index))
