"""Building an index from a folder of documents: read .md/.txt/.jsonl, chunk, embed in
batches, save the index with its manifest. Used by `orchestrator index build`."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from orchestrator_server.config.retrieval import ChunkingConfig, IndexOptions
from orchestrator_server.domain.errors import ProviderError
from orchestrator_server.retrieval.embedders.base import (
    Embedder,
    EmbedderInfo,
    FittedEmbedder,
    Purpose,
)
from orchestrator_server.retrieval.manifest import STATE_FILE, Manifest
from orchestrator_server.retrieval.store import Store, StoredDocument, index_params

SUFFIXES = (".md", ".txt", ".jsonl")
TEXT_KEYS = ("text", "content", "page_content")
EMBED_ATTEMPTS = 3
EMBED_TIMEOUT = 120.0


class BuildError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class SourceDocument:
    key: str  # passage ids are "<key>#<chunk>"
    text: str
    metadata: dict[str, Any]
    markdown: bool


def source_files(paths: Sequence[Path]) -> Iterator[tuple[Path, str]]:
    """(file, name) for every .md/.txt/.jsonl, sorted. One folder: names are relative to it;
    several paths: relative to their common parent, so `README.md` and `docs/README.md`
    stay apart."""
    base = _names_base(paths)
    seen: dict[str, Path] = {}
    for root in paths:
        if root.is_file():
            files = [root]
        elif root.is_dir():
            files = [
                f
                for f in sorted(root.rglob("*"))
                if f.is_file()
                and f.suffix in SUFFIXES
                and not any(part.startswith(".") for part in f.relative_to(root).parts)
            ]
        else:
            raise BuildError(f"{root}: no such file or folder")
        for file in files:
            if base is not None:
                key = file.resolve().relative_to(base).as_posix()
            else:
                key = file.relative_to(root).as_posix() if root.is_dir() else file.name
            if key in seen:
                if seen[key].resolve() == file.resolve():
                    continue  # named twice (a folder and a file in it): read once
                raise BuildError(f"{file} and {seen[key]} would both be named {key!r}")
            seen[key] = file
            yield file, key


def _names_base(paths: Sequence[Path]) -> Path | None:
    if len(paths) < 2:
        return None
    resolved = [p.resolve() for p in paths]
    return Path(os.path.commonpath([p if p.is_dir() else p.parent for p in resolved]))


def read_sources(paths: Sequence[Path]) -> list[SourceDocument]:
    documents: list[SourceDocument] = []
    for file, name in source_files(paths):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BuildError(f"{file}: cannot read it as UTF-8 text ({exc})") from None
        if file.suffix == ".jsonl":
            documents.extend(_jsonl(text, name))
        elif text.strip():
            kind = file.suffix.lstrip(".")
            documents.append(
                SourceDocument(name, text, {"source": name, "type": kind}, kind == "md")
            )
    return documents


def _jsonl(text: str, name: str) -> Iterator[SourceDocument]:
    """One document per line: its text under text/content/page_content, an optional id, a
    `metadata` object, and any other scalar fields, which join the metadata."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            body = next(row[k] for k in TEXT_KEYS if isinstance(row.get(k), str))
        except (ValueError, StopIteration, AttributeError):
            raise BuildError(
                f"{name}:{number}: expected a JSON object with one of {', '.join(TEXT_KEYS)}"
            ) from None
        metadata: dict[str, Any] = {"source": name, "type": "jsonl", "line": number}
        extra = row.get("metadata")
        if isinstance(extra, dict):
            metadata.update(extra)
        for key, value in row.items():
            if key not in (*TEXT_KEYS, "metadata", "id") and not isinstance(value, dict | list):
                metadata[key] = value
        key = str(row["id"]) if row.get("id") is not None else f"{name}:{number}"
        yield SourceDocument(key, body, metadata, markdown=False)


def chunk(documents: Sequence[SourceDocument], chunking: ChunkingConfig) -> list[StoredDocument]:
    plain = RecursiveCharacterTextSplitter(chunk_size=chunking.size, chunk_overlap=chunking.overlap)
    markdown = RecursiveCharacterTextSplitter.from_language(
        Language.MARKDOWN, chunk_size=chunking.size, chunk_overlap=chunking.overlap
    )
    out: list[StoredDocument] = []
    for doc in documents:
        pieces = markdown.split_text(doc.text) if doc.markdown else plain.split_text(doc.text)
        if doc.markdown:
            pieces = attach_headings(pieces)
        for n, piece in enumerate(pieces):
            out.append(StoredDocument(f"{doc.key}#{n}", piece, {**doc.metadata, "chunk": n}))
    return out


def attach_headings(pieces: Sequence[str]) -> list[str]:
    """The Markdown splitter cuts before a heading, so a heading whose section is longer than
    a chunk stands alone: a passage that matches queries and says nothing. It joins the
    passage that follows it (a chunk may then run a little over its size)."""
    out: list[str] = []
    pending = ""
    for piece in pieces:
        lines = [line for line in piece.splitlines() if line.strip()]
        if lines and all(line.lstrip().startswith("#") for line in lines):
            pending = f"{pending}\n\n{piece}" if pending else piece
            continue
        out.append(f"{pending}\n\n{piece}" if pending else piece)
        pending = ""
    if pending:
        out.append(pending)
    return out


async def embed_all(
    embedder: Embedder,
    texts: Sequence[str],
    batch_size: int,
    progress: Callable[[int], object] = lambda n: None,
) -> np.ndarray[Any, np.dtype[np.float32]]:
    parts = []
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        parts.append(await _embed_with_retry(embedder, batch))
        progress(len(batch))
    return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)


async def _embed_with_retry(
    embedder: Embedder, texts: Sequence[str]
) -> np.ndarray[Any, np.dtype[np.float32]]:
    for attempt in range(EMBED_ATTEMPTS):
        try:
            return await embedder.embed(texts, Purpose.DOCUMENT, timeout=EMBED_TIMEOUT)
        except ProviderError as exc:
            if not exc.policy.retry or attempt == EMBED_ATTEMPTS - 1:
                raise BuildError(f"embedding failed: {exc.message}") from None
            await asyncio.sleep(min(exc.retry_after or 2.0**attempt, 30.0))
    raise AssertionError("unreachable")  # pragma: no cover


async def build_index(
    *,
    name: str,
    sources: Sequence[Path],
    embedder: Embedder,
    options: IndexOptions,
    chunking: ChunkingConfig,
    out: Path,
    batch_size: int = 64,
    progress: Callable[[int], object] = lambda n: None,
    on_chunked: Callable[[int], object] = lambda n: None,
) -> Manifest:
    started = time.perf_counter()
    documents = read_sources(sources)
    passages = chunk(documents, chunking)
    if not passages:
        names = ", ".join(str(s) for s in sources)
        raise BuildError(f"no text found in {names} (reads {', '.join(SUFFIXES)})")
    on_chunked(len(passages))
    texts = [p.content for p in passages]
    state = embedder.fit(texts) if isinstance(embedder, FittedEmbedder) else None
    vectors = await embed_all(embedder, texts, batch_size, progress)
    info = embedder.info
    store = Store.build(vectors, passages, options)
    manifest = Manifest(
        collection=name,
        embedder=EmbedderInfo(info.kind, info.model, int(vectors.shape[1])),
        index_type=options.type,
        chunks=len(passages),
        documents=len(documents),
        build_seconds=time.perf_counter() - started,
        built_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        index_params=index_params(options, len(passages)),
        chunking={"size": chunking.size, "overlap": chunking.overlap},
    )
    save(store, manifest, out, state)
    return manifest


def save(store: Store, manifest: Manifest, out: Path, state: dict[str, Any] | None = None) -> None:
    """Written beside `out` first and swapped in, so a server never reads half an index."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.building-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        store.save(staging)
        if state is not None:
            (staging / STATE_FILE).write_text(json.dumps(state, separators=(",", ":")) + "\n")
        manifest.write(staging)
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
