"""Generations of the running configuration and the leases calls hold on them.

A call takes a lease on the current generation when it starts and gives it back when it ends
(a unary call returns, a stream closes), so it finishes on the router and providers it began
with whatever reloads happen meanwhile. A generation that is no longer current ends when its
last lease is returned; then its providers that no live generation shares are closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from orchestrator_server.auth.keys import KeyTable
from orchestrator_server.config.models import Config
from orchestrator_server.providers.base import Provider
from orchestrator_server.providers.http.client import HeadersHook
from orchestrator_server.routing.router import Router

log = logging.getLogger(__name__)


class Generation:
    __slots__ = (
        "config",
        "context_headers",
        "ended",
        "fingerprints",
        "keys",
        "leases",
        "number",
        "providers",
        "router",
    )

    def __init__(
        self,
        number: int,
        config: Config,
        router: Router,
        fingerprints: Mapping[str, str | None],
        keys: KeyTable | None = None,
        context_headers: HeadersHook | None = None,
    ) -> None:
        self.number = number
        # Given to every HTTP provider built for it; the next generation keeps it.
        self.context_headers = context_headers
        self.config = config
        self.router = router
        self.keys = keys  # the caller keys of `config.auth`; None: no auth
        self.providers: tuple[Provider, ...] = tuple(router.providers)
        # Provider name -> digest of what it was built from (None: given ready-made).
        self.fingerprints = dict(fingerprints)
        self.leases = 0
        self.ended = asyncio.Event()  # set once retired, drained and its providers closed


class Generations:
    """The current generation, and the retired ones that calls still use."""

    def __init__(self, first: Generation) -> None:
        self._current = first
        self._live: list[Generation] = [first]
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def current(self) -> Generation:
        return self._current

    @property
    def live(self) -> Sequence[Generation]:
        return tuple(self._live)

    def acquire(self) -> Generation:
        """A lease on the current generation; give it back with release() when the call ends."""
        generation = self._current
        generation.leases += 1
        return generation

    @contextmanager
    def lease(self) -> Iterator[Generation]:
        """The current generation, leased for the block (a call's whole life)."""
        generation = self.acquire()
        try:
            yield generation
        finally:
            self.release(generation)

    def release(self, generation: Generation) -> None:
        generation.leases -= 1
        if generation.leases == 0 and generation is not self._current:
            self._end(generation)

    def interrupt(self) -> int:
        """Cuts every routed call in flight, on any live generation (the shutdown grace ran
        out); returns how many."""
        return sum(generation.router.interrupt() for generation in self._live)

    def swap(self, new: Generation) -> Generation:
        """Makes `new` current at once; returns the previous one, which ends when drained."""
        old = self._current
        self._current = new
        self._live.append(new)
        if old.leases == 0:
            self._end(old)
        return old

    def _end(self, generation: Generation) -> None:
        if generation not in self._live:
            return
        self._live.remove(generation)
        shared = {id(p) for g in self._live for p in g.providers}
        doomed = [p for p in generation.providers if id(p) not in shared]
        task = asyncio.ensure_future(self._close(generation, doomed))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(generation: Generation, providers: Sequence[Provider]) -> None:
        try:
            await close_providers(providers)
            if providers:
                log.info(
                    "generation %d drained: closed %s",
                    generation.number,
                    ", ".join(p.spec.name for p in providers),
                )
        finally:
            generation.ended.set()

    async def aclose(self) -> None:
        """Shutdown: closes every provider of every generation, in flight or not."""
        seen: dict[int, Provider] = {}
        for generation in self._live:
            for provider in generation.providers:
                seen.setdefault(id(provider), provider)
        live, self._live = self._live, []
        await close_providers(list(seen.values()))
        for generation in live:
            generation.ended.set()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


async def close_providers(providers: Sequence[Provider]) -> None:
    results = await asyncio.gather(*(p.aclose() for p in providers), return_exceptions=True)
    for provider, result in zip(providers, results, strict=True):
        if isinstance(result, BaseException):
            log.error("closing provider %s failed", provider.spec.name, exc_info=result)
