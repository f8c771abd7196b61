"""Bounds each wait on a provider stream with one timer per attempt, not one per chunk.

A fresh asyncio.timeout around every chunk cost about half of the router's streaming time.
Here a single timer handle is armed for the current limit; when it fires early because the
limit has since moved on (a chunk arrived), it re-arms itself for the new limit. It cancels
the task only while the stream is waiting on the provider, never while the consumer holds
a yielded event (a slow gRPC write is the caller's flow control, not a provider timeout).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")


class ChunkTimer:
    __slots__ = ("_expired", "_handle", "_loop", "_task", "_waiting", "_when")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None, "ChunkTimer needs a running task"
        self._task = task
        self._handle: asyncio.TimerHandle | None = None
        self._when = 0.0  # loop time by which the awaited chunk must arrive
        self._waiting = False
        self._expired = False

    async def next(self, chunks: AsyncIterator[T], timeout: float) -> T:
        """The next chunk, or TimeoutError if none arrives within `timeout` seconds.
        StopAsyncIteration passes through."""
        loop = self._loop
        self._when = when = loop.time() + timeout
        handle = self._handle
        if handle is None or handle.when() > when:
            if handle is not None:
                handle.cancel()
            self._handle = loop.call_at(when, self._fire)
        self._waiting = True
        try:
            return await anext(chunks)
        except asyncio.CancelledError:
            if self._expired:
                self._expired = False
                if self._task.uncancel() == 0:
                    raise TimeoutError from None
            raise
        finally:
            self._waiting = False

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        if self._loop.time() < self._when:
            self._handle = self._loop.call_at(self._when, self._fire)
        elif self._waiting and not self._expired:
            self._expired = True
            self._task.cancel()
        # Not waiting: the consumer holds an event; the next wait arms a new timer.
