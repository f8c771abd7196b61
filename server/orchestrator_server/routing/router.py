"""The router: picks providers for a request by strategy, calls them with retries and
fallback inside the caller's deadline, and keeps each provider's stats and circuit."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence

from orchestrator_server.config.models import RouterConfig, StrategyName
from orchestrator_server.domain.chat import ChatRequest
from orchestrator_server.domain.embeddings import EmbeddingRequest
from orchestrator_server.providers.base import Provider
from orchestrator_server.routing.attempt import Attempt
from orchestrator_server.routing.candidates import Candidate, CandidateResolver
from orchestrator_server.routing.capabilities import capable
from orchestrator_server.routing.embedding import (
    EmbeddingResolver,
    embed,
    embedding_candidates,
    interchangeable,
)
from orchestrator_server.routing.observer import NO_OBSERVER, AttemptObserver
from orchestrator_server.routing.retry import RetryPolicy
from orchestrator_server.routing.run import Run
from orchestrator_server.routing.runtime import Plan, Runtime
from orchestrator_server.routing.slot import Slot
from orchestrator_server.routing.strategies import build_strategies
from orchestrator_server.routing.streaming import stream_events
from orchestrator_server.routing.types import (
    ProviderSnapshot,
    RoutedCompletion,
    RoutedEmbeddings,
    RouteOptions,
    StreamEvent,
)

log = logging.getLogger(__name__)


class Router:
    def __init__(
        self,
        providers: Sequence[Provider],
        config: RouterConfig,
        aliases: Mapping[str, Sequence[str]] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observer: AttemptObserver = NO_OBSERVER,
    ) -> None:
        self._config = config
        self._providers = tuple(providers)
        self._slots = tuple(
            Slot(p, config.health, config.circuit_breaker, clock) for p in self._providers
        )
        self._resolver = CandidateResolver(self._slots, aliases)
        self._embedding_resolver = EmbeddingResolver(self._slots, aliases or {})
        rng = rng if rng is not None else random.Random()
        self._strategies = build_strategies(rng)
        self._runtime = Runtime(
            clock=clock,
            sleep=sleep,
            retry=RetryPolicy(config.retry, rng),
            request_timeout=config.request_timeout,
            plan=self._plan,
            observer=observer,
            check_structured=config.structured_output.on_invalid == "fallback",
            model_listing=self._resolver.model_listing,
        )

    @property
    def strategy(self) -> StrategyName:
        return self._config.strategy

    @property
    def providers(self) -> Sequence[Provider]:
        return self._providers

    @property
    def observer(self) -> AttemptObserver:
        return self._runtime.observer

    @property
    def config(self) -> RouterConfig:
        return self._config

    @property
    def slots(self) -> Sequence[Slot]:
        """One per provider, in configuration order (a reload carries stats between them)."""
        return self._slots

    def _plan(self, route: RouteOptions) -> Plan:
        return self._ordered(capable(self._resolver.resolve(route), route.features), route)

    def _ordered(self, candidates: Sequence[Candidate], route: RouteOptions) -> Plan:
        strategy = self._strategies[route.strategy or self._config.strategy]
        single = bool(route.provider) or not (route.allow_fallback and self._config.fallback)
        return Plan(strategy.order(candidates), single)

    async def generate(
        self, request: ChatRequest, route: RouteOptions, *, deadline: float | None = None
    ) -> RoutedCompletion:
        with Run(self._runtime, request, route, deadline) as run:
            while (turn := run.turns.next()) is not None:
                attempt = Attempt(run, turn)
                answer = await attempt.complete()
                if answer is not None:
                    return answer
                assert attempt.error is not None
                await run.turns.failed(attempt.error)
            raise run.trail.exhausted(run.model, self._runtime.model_listing)

    async def embed(
        self, request: EmbeddingRequest, route: RouteOptions, *, deadline: float | None = None
    ) -> RoutedEmbeddings:
        """Vectors for a batch, from the first candidate that answers; fallback only to
        candidates serving the same embedding model."""
        plan = self._ordered(embedding_candidates(self._embedding_resolver, route), route)
        plan = Plan(interchangeable(plan.candidates), plan.single)
        with Run(self._runtime, request, route, deadline, plan) as run:
            return await embed(run, self._embedding_resolver.listing)

    def targets(self, route: RouteOptions) -> list[tuple[str, str]]:
        """(provider, model) of every candidate `route` may reach, in configured order;
        raises as routing would (NotFound, InvalidRequest). For authorization."""
        return [(c.name, c.model_name) for c in self._resolver.resolve(route)]

    def embedding_targets(self, route: RouteOptions) -> list[tuple[str, str]]:
        """As `targets`, for an Embed request: the embedding models `route` may reach."""
        return [(c.name, c.model_name) for c in self._embedding_resolver.resolve(route)]

    def stream(
        self, request: ChatRequest, route: RouteOptions, *, deadline: float | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """Events of one streamed generation. Every error, including NotFound for an unknown
        model, is raised from iteration. Close the iterator (aclosing) when done early: that
        aborts the upstream request at once."""
        return stream_events(self._runtime, request, route, deadline)

    def interrupt(self) -> int:
        """Cuts every request in flight short (the shutdown grace ran out): each ends with
        ServerShuttingDown and its trail instead of a bare cancellation. Returns how many."""
        return self._runtime.interrupt()

    def snapshot(self) -> list[ProviderSnapshot]:
        return [slot.snapshot() for slot in self._slots]

    async def aclose(self) -> None:
        results = await asyncio.gather(
            *(p.aclose() for p in self._providers), return_exceptions=True
        )
        for provider, result in zip(self._providers, results, strict=True):
            if isinstance(result, BaseException):
                log.error("closing provider %s failed", provider.spec.name, exc_info=result)
