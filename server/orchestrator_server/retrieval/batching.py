"""Query embeddings batched without waiting: up to `concurrency` embed calls run at once;
queries arriving while all of them are busy queue up and go together in the next call.
A lone query never waits for company, and a busy server embeds many per call."""

from __future__ import annotations

import asyncio
from collections import deque

from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.retrieval.embedders.base import Embedder, Purpose, Vectors


class QueryBatcher:
    def __init__(
        self, embedder: Embedder, *, max_batch: int, concurrency: int, timeout: float
    ) -> None:
        self._embedder = embedder
        self._max_batch = max_batch
        self._concurrency = concurrency
        self._timeout = timeout
        self._pending: deque[tuple[str, asyncio.Future[Vectors]]] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls = 0  # embed calls made, for tests and benchmarks
        self.embedded = 0  # queries embedded

    async def embed(self, text: str) -> Vectors:
        """The query's unit vector (1-D)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Vectors] = loop.create_future()
        self._pending.append((text, future))
        if self._running < self._concurrency:
            self._running += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = [
                    self._pending.popleft() for _ in range(min(self._max_batch, len(self._pending)))
                ]
                live = [(text, future) for text, future in batch if not future.done()]
                if live:
                    await self._embed(live)
        finally:
            self._running -= 1

    async def _embed(self, batch: list[tuple[str, asyncio.Future[Vectors]]]) -> None:
        self.calls += 1
        self.embedded += len(batch)
        try:
            vectors = await self._embedder.embed(
                [text for text, _ in batch], Purpose.QUERY, timeout=self._timeout
            )
            if len(vectors) != len(batch):
                raise ProviderError(
                    ErrorKind.MALFORMED_RESPONSE,
                    f"{len(vectors)} embeddings for {len(batch)} queries",
                )
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # each waiting query gets the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), vector in zip(batch, vectors, strict=True):
            if not future.done():
                future.set_result(vector)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while self._pending:
            self._pending.popleft()[1].cancel()
