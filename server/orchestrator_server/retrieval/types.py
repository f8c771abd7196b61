"""What Retrieve asks for and what it gets back, in domain terms."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class SearchType(enum.Enum):
    SIMILARITY = "similarity"
    MMR = "mmr"


DEFAULT_LAMBDA_MULT = 0.5
FETCH_K_FACTOR = 4  # MMR's default fetch_k is 4·k


@dataclass(frozen=True, slots=True)
class RetrieveQuery:
    collection: str
    query: str
    k: int
    search_type: SearchType = SearchType.SIMILARITY
    fetch_k: int | None = None  # None: FETCH_K_FACTOR·k
    lambda_mult: float = DEFAULT_LAMBDA_MULT
    filter: Mapping[str, Any] | None = None
    score_threshold: float | None = None


@dataclass(frozen=True, slots=True)
class Passage:
    id: str
    content: str
    score: float  # cosine similarity of query and passage, in [-1, 1]; higher is closer
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RetrieveResult:
    passages: tuple[Passage, ...]
    latency: float  # seconds spent embedding and searching
