"""Batching without waiting: up to `concurrency` batches run at once; requests arriving
while all of them are busy queue up and go together in the next one. A lone request never
waits for company, and a busy server embeds (and searches) many per call."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Batcher(Generic[In, Out]):
    def __init__(
        self,
        run: Callable[[list[In]], Awaitable[list[Out]]],
        *,
        max_batch: int,
        concurrency: int,
    ) -> None:
        self._run = run  # one result per item, in order; raising fails the whole batch
        self._max_batch = max_batch
        self._concurrency = concurrency
        self._pending: deque[tuple[In, asyncio.Future[Out]]] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # batches run, for tests and benchmarks
        self.items = 0  # items they held

    async def submit(self, item: In) -> Out:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = loop.create_future()
        self._pending.append((item, future))
        if self._running < self._concurrency:
            self._running += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                count = min(self._max_batch, len(self._pending))
                batch = [self._pending.popleft() for _ in range(count)]
                live = [(item, future) for item, future in batch if not future.done()]
                if live:
                    await self._batch(live)
        finally:
            self._running -= 1

    async def _batch(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            results = await self._run([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} items")
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # each waiting request gets the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while self._pending:
            self._pending.popleft()[1].cancel()
