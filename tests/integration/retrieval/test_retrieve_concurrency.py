"""Retrieve runs off the event loop: while retrievals are stuck in their embedder (as a
model busy in native code would be), Generate on the same server still answers promptly."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from orchestrator.v1 import generate_pb2, retrieve_pb2
from orchestrator_server.retrieval.embedders.base import Purpose, Vectors
from orchestrator_server.retrieval.embedders.hashing import HashingEmbedder
from tests.helpers import make_config, mock_provider, running
from tests.integration.retrieval.kb import DIMENSION, MODEL, abuild, collection

RETRIEVALS = 8
# Generous: an idle Generate on the mock takes a few milliseconds; a blocked loop would not
# answer at all until the retrievals were released.
BOUND = 0.5


class BlockingEmbedder(HashingEmbedder):
    """Holds its worker thread until released, like a model busy in native code."""

    def __init__(self, executor: object) -> None:
        super().__init__(DIMENSION, executor, model=MODEL)  # type: ignore[arg-type]
        self.entered = threading.Event()
        self.release = threading.Event()

    def embed_sync(self, texts: Sequence[str], purpose: Purpose) -> Vectors:
        self.entered.set()
        assert self.release.wait(timeout=5), "never released"
        return super().embed_sync(texts, purpose)


async def test_retrievals_in_flight_do_not_delay_generate(tmp_path: Path) -> None:
    index = await abuild(tmp_path)
    config = make_config(
        mock_provider("a"),
        retrieval={"workers": 2, "collections": [collection(index)]},
    )
    async with running(config) as server:
        kb = server.app.collections.get("kb")
        assert kb is not None
        blocking = BlockingEmbedder(server.app.collections.executor)
        kb.embedder = blocking
        prompt = generate_pb2.GenerateRequest(prompt="hello")
        await server.stub.Generate(prompt)  # warm the channel and the handler

        retrievals = [
            asyncio.ensure_future(
                server.stub.Retrieve(
                    retrieve_pb2.RetrieveRequest(collection="kb", query="apple banana cherry", k=3)
                )
            )
            for _ in range(RETRIEVALS)
        ]
        try:
            assert await asyncio.to_thread(blocking.entered.wait, 10)
            started = time.perf_counter()
            reply = await asyncio.wait_for(server.stub.Generate(prompt), timeout=5)
            elapsed = time.perf_counter() - started
            still_running = sum(not r.done() for r in retrievals)
        finally:
            blocking.release.set()
        replies = await asyncio.gather(*retrievals)

    assert reply.text
    assert still_running == RETRIEVALS  # every retrieval was in flight during the Generate
    assert elapsed < BOUND, f"Generate took {elapsed:.3f} s while retrievals ran"
    assert all(r.documents[0].id == "fruit-1#0" for r in replies)
