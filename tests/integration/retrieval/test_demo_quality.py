"""The labelled questions of bench/retrieval_quality.py stay answerable (every passage they
name still exists in the docs), and the demo collection's embedder answers clearly more of
them than the hashing embedder's first generation did."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

import retrieval_quality  # noqa: E402


def test_every_labelled_answer_still_exists_in_the_docs() -> None:
    for question in retrieval_quality.load_questions():
        for source, phrase in question["relevant"]:
            text = (ROOT / source).read_text(encoding="utf-8").lower()
            assert phrase.lower() in text, (question["query"], source, phrase)


async def test_the_demo_embedder_answers_more_questions(tmp_path: Path) -> None:
    demo = retrieval_quality.demo_embedder()  # the embedded config's, as `make run` serves
    before = await retrieval_quality.score(
        "v1", {"kind": "hashing", "model": "hashing-v1"}, tmp_path / "v1"
    )
    now = await retrieval_quality.score("demo", demo, tmp_path / "demo")
    assert now["hit@3"] >= 0.6
    assert now["hit@3"] >= before["hit@3"] + 0.2
    assert now["mrr@10"] > before["mrr@10"]
