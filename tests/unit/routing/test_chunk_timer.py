"""ChunkTimer: one timer per stream attempt that bounds only the waits on the provider."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orchestrator_server.routing.chunk_timer import ChunkTimer


class Gated:
    """An async iterator that yields one item each time `release` is called."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[int] = asyncio.Queue()

    def release(self, item: int) -> None:
        self.queue.put_nowait(item)

    def __aiter__(self) -> AsyncIterator[int]:
        return self

    async def __anext__(self) -> int:
        return await self.queue.get()


async def test_a_chunk_in_time_is_returned() -> None:
    source = Gated()
    source.release(1)
    timer = ChunkTimer()
    assert await timer.next(source, 5.0) == 1
    timer.close()


async def test_no_chunk_in_time_is_a_timeout() -> None:
    timer = ChunkTimer()
    with pytest.raises(TimeoutError):
        await timer.next(Gated(), 0.01)
    timer.close()
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_slow_consumer_is_not_a_provider_timeout() -> None:
    source = Gated()
    source.release(1)
    timer = ChunkTimer()
    assert await timer.next(source, 0.01) == 1
    # The consumer holds the chunk past the limit: the timer fires but must not cancel.
    fired = asyncio.Event()
    asyncio.get_running_loop().call_later(0.03, fired.set)
    await fired.wait()
    source.release(2)
    assert await timer.next(source, 0.01) == 2
    timer.close()


async def test_a_shorter_limit_after_a_longer_one_is_honoured() -> None:
    source = Gated()
    source.release(1)
    timer = ChunkTimer()
    assert await timer.next(source, 60.0) == 1  # first token: a long budget
    with pytest.raises(TimeoutError):
        await timer.next(source, 0.01)  # later chunks: a short one
    timer.close()


async def test_the_callers_cancellation_stays_a_cancellation() -> None:
    source = Gated()
    waiting = asyncio.Event()

    async def consume() -> int:
        timer = ChunkTimer()
        waiting.set()
        try:
            return await timer.next(source, 60.0)
        finally:
            timer.close()

    task = asyncio.ensure_future(consume())
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
