"""A dependency-free embedder: signed feature hashing of words and adjacent word pairs.

Texts sharing words get close vectors, which is all a demo or a test needs; it knows no
synonyms. Stable across processes and machines (blake2b, not Python's salted hash()).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np

from orchestrator_server.retrieval.embedders.base import (
    EmbedderInfo,
    Purpose,
    SyncEmbedder,
    Vectors,
    unit_rows,
)

MODEL = "hashing-v1"  # bump when the features change: indexes built before then mismatch
_WORD = re.compile(r"\w+", re.UNICODE)
_PAIR_WEIGHT = 0.5


class HashingEmbedder(SyncEmbedder):
    def __init__(self, dimension: int = 384, executor: Executor | None = None) -> None:
        super().__init__(executor)
        self._dimension = dimension
        self._info = EmbedderInfo("hashing", MODEL, dimension)

    @property
    def info(self) -> EmbedderInfo:
        return self._info

    def embed_sync(self, texts: Sequence[str], purpose: Purpose) -> Vectors:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            features = [(w, 1.0) for w in words]
            features += [(f"{a} {b}", _PAIR_WEIGHT) for a, b in itertools.pairwise(words)]
            for feature, weight in features:
                digest = int.from_bytes(
                    hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little"
                )
                sign = 1.0 if digest & 1 else -1.0
                out[row, (digest >> 1) % self._dimension] += sign * weight
        return unit_rows(out)
