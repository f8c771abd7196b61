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
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.tools import ResponseFormatType
from orchestrator_server.providers.base import Provider
from orchestrator_server.routing.candidates import Candidate, CandidateResolver
from orchestrator_server.routing.capabilities import capable
from orchestrator_server.routing.embedding import (
    EmbeddingResolver,
    RoutedEmbeddings,
    embed,
    embedding_candidates,
    interchangeable,
)
from orchestrator_server.routing.observer import NO_OBSERVER, AttemptObserver, AttemptRecord
from orchestrator_server.routing.retry import RetryPolicy
from orchestrator_server.routing.runtime import (
    Plan,
    Runtime,
    observe_cancel,
    observe_failure,
    observe_success,
    settle_cancel,
    settle_failure,
    unexpected_failure,
)
from orchestrator_server.routing.slot import Slot
from orchestrator_server.routing.strategies import build_strategies
from orchestrator_server.routing.streaming import stream_events
from orchestrator_server.routing.trail import Trail
from orchestrator_server.routing.turns import Turns
from orchestrator_server.routing.types import (
    ProviderSnapshot,
    RoutedCompletion,
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
        runtime = self._runtime
        clock = runtime.clock
        started = clock()
        if deadline is None:
            deadline = started + runtime.request_timeout
        trail = Trail()
        turns = Turns(runtime, self._plan(route), trail, deadline)
        while (turn := turns.next()) is not None:
            outcome = await self._call(
                turn.candidate, request, started, deadline, trail, turn.retry, turn.probe
            )
            if not isinstance(outcome, ProviderError):
                return outcome
            await turns.failed(outcome)
        raise trail.exhausted()

    async def _call(
        self,
        candidate: Candidate,
        request: ChatRequest,
        started: float,
        deadline: float,
        trail: Trail,
        retry: int,
        probe: bool,
    ) -> RoutedCompletion | ProviderError:
        """One call to one provider. Records its outcome; returns the answer or the error to
        decide a retry on; raises when the request as a whole must end."""
        slot = candidate.slot
        spec = slot.spec
        clock = self._runtime.clock
        start = clock()
        left = deadline - start
        deadline_bound = left < spec.timeout
        timeout = left if deadline_bound else spec.timeout
        slot.stats.on_start()
        observer = self._runtime.observer
        record = AttemptRecord(request, spec, candidate.model_name, False, retry)
        observer.attempt_started(record)
        error: ProviderError
        try:
            async with asyncio.timeout(timeout):
                completion = await slot.provider.generate(
                    request.with_model(candidate.model), timeout=timeout
                )
            if request.response_format.type is not ResponseFormatType.TEXT:
                bad = self._runtime.reply_error(
                    request, completion.text, completion.finish_reason, bool(completion.tool_calls)
                )
                if bad is not None:
                    raise bad
        except TimeoutError:
            # Ours or the adapter's own read timeout: the same verdict.
            error = ProviderError(ErrorKind.TIMEOUT, f"no answer within {timeout:.3g} s")
        except ProviderError as exc:
            error = exc
        except asyncio.CancelledError:
            latency = clock() - start
            observe_cancel(observer, record, latency)
            settle_cancel(
                slot,
                trail,
                candidate.model_name,
                latency=latency,
                retry=retry,
                probe=probe,
                deadline=False,
            )
            raise
        except Exception as exc:
            error = unexpected_failure(slot.name, exc)
        else:
            latency = clock() - start
            usage = completion.usage
            price = spec.price_for(candidate.model_name)
            cost = slot.succeeded(probe=probe, latency=latency, usage=usage, price=price)
            currency = price.currency
            trail.succeeded(slot.name, completion.model, latency, retry)
            observe_success(
                observer,
                record,
                model=completion.model,
                latency=latency,
                usage=usage,
                cost=cost,
                currency=currency,
                finish_reason=completion.finish_reason,
            )
            return RoutedCompletion(
                text=completion.text,
                finish_reason=completion.finish_reason,
                provider=slot.name,
                model=completion.model,
                usage=usage,
                cost=cost,
                currency=currency,
                attempts=trail.frozen(),
                latency=clock() - started,
                tool_calls=completion.tool_calls,
            )
        latency = clock() - start
        observe_failure(observer, record, error, latency)
        settle_failure(
            slot,
            trail,
            candidate.model_name,
            error,
            latency=latency,
            retry=retry,
            probe=probe,
            deadline_bound=deadline_bound,
        )
        return error

    async def embed(
        self, request: EmbeddingRequest, route: RouteOptions, *, deadline: float | None = None
    ) -> RoutedEmbeddings:
        """Vectors for a batch, from the first candidate that answers; fallback only to
        candidates serving the same embedding model."""
        plan = self._ordered(embedding_candidates(self._embedding_resolver, route), route)
        plan = Plan(interchangeable(plan.candidates), plan.single)
        runtime = self._runtime
        if deadline is None:
            deadline = runtime.clock() + runtime.request_timeout
        return await embed(runtime, plan, request, deadline)

    def targets(self, route: RouteOptions) -> list[tuple[str, str]]:
        """(provider, model) of every candidate `route` may reach, in configured order;
        raises as routing would (NotFound, InvalidRequest). For authorization."""
        return [(c.name, c.model_name) for c in self._resolver.resolve(route)]

    def stream(
        self, request: ChatRequest, route: RouteOptions, *, deadline: float | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """Events of one streamed generation. Every error, including NotFound for an unknown
        model, is raised from iteration. Close the iterator (aclosing) when done early: that
        aborts the upstream request at once."""
        return stream_events(self._runtime, request, route, deadline)

    def snapshot(self) -> list[ProviderSnapshot]:
        return [slot.snapshot() for slot in self._slots]

    async def aclose(self) -> None:
        results = await asyncio.gather(
            *(p.aclose() for p in self._providers), return_exceptions=True
        )
        for provider, result in zip(self._providers, results, strict=True):
            if isinstance(result, BaseException):
                log.error("closing provider %s failed", provider.spec.name, exc_info=result)
