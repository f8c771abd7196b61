"""A dependency-free embedder: signed feature hashing of words and adjacent word pairs.

Texts sharing words get close vectors; it knows no synonyms. Stable across processes and
machines (blake2b, not Python's salted hash()). Two generations, recorded in each index:

- `hashing-v1`: every word and word pair, raw counts.
- `hashing-v2` (the default): stop words dropped, words lightly stemmed ("retries" and
  "retry" meet), sublinear counts, and IDF weights fitted on the collection when its index
  is built and stored beside it (`embedder.json`), so words every passage has ("the",
  "provider") count for little and rare, telling ones for much. On the project's docs it
  answers about twice as many questions in the top three as v1 (bench/results/
  retrieval-quality.md).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from orchestrator_server.retrieval.embedders.base import (
    EmbedderInfo,
    Purpose,
    SyncEmbedder,
    Vectors,
    unit_rows,
)

V1, V2 = "hashing-v1", "hashing-v2"
MODELS = (V1, V2)
MODEL = V2  # what `kind: hashing` means unless `model:` says otherwise
STATE_VERSION = 1
_WORD = re.compile(r"\w+", re.UNICODE)
_PAIR_WEIGHT = 0.5
HEADING_WEIGHT = 3
# Function words and question words: they say how a question is asked, not what about.
STOP_WORDS = frozenset(
    [
        "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be",
        "because", "been", "before", "being", "but", "by", "can", "could", "did", "do", "does",
        "doing", "done", "each", "else", "for", "from", "had", "has", "have", "having", "how", "i",
        "if", "in", "into", "is", "it", "its", "just", "may", "me", "might", "more", "most",
        "must", "my", "no", "not", "of", "on", "once", "one", "only", "or", "other", "our", "out",
        "over", "own", "same", "should", "so", "some", "such", "than", "that", "the", "their",
        "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under",
        "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while",
        "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "get", "gets",
        "got", "use", "used", "uses", "using", "want",
    ]
)  # fmt: skip


def _stem(word: str) -> str:
    """A very light English stemmer, plural and verb endings only ("retries" and "retry",
    "providers" and "provider" meet); ASCII words only."""
    if not word.isascii() or not word.isalpha() or len(word) <= 4:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _hash(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")


def _features_v1(text: str) -> list[tuple[int, float]]:
    words = _WORD.findall(text.lower())
    features = [(_hash(w), 1.0) for w in words]
    features += [(_hash(f"{a} {b}"), _PAIR_WEIGHT) for a, b in itertools.pairwise(words)]
    return features


def _features_v2(text: str) -> dict[int, float]:
    """Feature hash -> weight: sublinear term counts of stems and adjacent stem pairs. Words
    of a Markdown heading count HEADING_WEIGHT times: a passage is about what its heading
    says, more than about every word it mentions in passing."""
    counts: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for line in text.lower().splitlines():
        stems = [_stem(w) for w in _WORD.findall(line) if w not in STOP_WORDS]
        weight = HEADING_WEIGHT if line.lstrip().startswith("#") else 1
        for stem in stems:
            counts[stem] += weight
        for a, b in itertools.pairwise(stems):
            pairs[f"{a} {b}"] += weight
    weights: dict[int, float] = {}
    for feature, count in counts.items():
        weights[_hash(feature)] = 1.0 + math.log(count)
    for feature, count in pairs.items():
        weights[_hash(feature)] = _PAIR_WEIGHT * (1.0 + math.log(count))
    return weights


class HashingEmbedder(SyncEmbedder):
    def __init__(
        self, dimension: int = 384, executor: Executor | None = None, *, model: str = MODEL
    ) -> None:
        super().__init__(executor)
        if model not in MODELS:
            raise ValueError(f"unknown hashing model {model!r}; one of {', '.join(MODELS)}")
        self._dimension = dimension
        self._model = model
        self._info = EmbedderInfo("hashing", model, dimension)
        self._documents = 0
        self._df: dict[int, int] = {}

    @property
    def info(self) -> EmbedderInfo:
        return self._info

    @property
    def fitted(self) -> bool:
        """v2 weighs features by IDF: it must be fitted (build) or given its state (load)."""
        return self._model == V1 or self._documents > 0

    # -- fitting: IDF over the collection's passages, kept with the index ------------------

    def fit(self, texts: Sequence[str]) -> dict[str, Any] | None:
        """Learns document frequencies from the passages an index is built from; returns
        the state to store with the index (None for v1, which has none)."""
        if self._model == V1:
            return None
        df: Counter[int] = Counter()
        for text in texts:
            df.update(_features_v2(text).keys())
        self._documents, self._df = len(texts), dict(df)
        return self.state()

    def state(self) -> dict[str, Any]:
        # Features seen in one passage only are left out (most word pairs): a missing feature
        # counts as df 1, so they weigh the same and the file stays small.
        df = {f"{h:016x}": n for h, n in sorted(self._df.items()) if n > 1}
        return {
            "version": STATE_VERSION,
            "model": self._model,
            "documents": self._documents,
            "df": df,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION or state.get("model") != self._model:
            raise ValueError(f"embedder state of another version or model ({state.get('model')})")
        self._documents = int(state["documents"])
        self._df = {int(h, 16): int(n) for h, n in dict(state["df"]).items()}

    def _idf(self, feature: int) -> float:
        return math.log((1 + self._documents) / (1 + self._df.get(feature, 1))) + 1.0

    # -- embedding -----------------------------------------------------------------------

    def embed_sync(self, texts: Sequence[str], purpose: Purpose) -> Vectors:
        if not self.fitted:
            raise RuntimeError("a hashing-v2 embedder needs the IDF state of its index")
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, weight in self._weighted(text):
                sign = 1.0 if feature & 1 else -1.0
                out[row, (feature >> 1) % self._dimension] += sign * weight
        return unit_rows(out)

    def _weighted(self, text: str) -> Iterable[tuple[int, float]]:
        if self._model == V1:
            return _features_v1(text)
        return ((h, w * self._idf(h)) for h, w in _features_v2(text).items())
