"""The Embed path of the router: which providers may embed a batch, and the calls with
retries and fallback. Fallback only goes to candidates whose vectors are interchangeable
with the first choice's (the same embedding model; dimensions are the request's), since
vectors of another model mean nothing next to the ones a caller already stored."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator_server.domain.attempts import Attempt
from orchestrator_server.domain.capabilities import Feature
from orchestrator_server.domain.chat import Usage
from orchestrator_server.domain.embeddings import EmbeddingRequest, Embeddings
from orchestrator_server.domain.errors import (
    ErrorKind,
    FieldViolation,
    InvalidRequest,
    NotFound,
    ProviderError,
)
from orchestrator_server.providers.base import Price, ProviderSpec
from orchestrator_server.routing.candidates import Candidate
from orchestrator_server.routing.capabilities import capable
from orchestrator_server.routing.observer import AttemptRecord
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
from orchestrator_server.routing.trail import Trail
from orchestrator_server.routing.turns import Turn, Turns
from orchestrator_server.routing.types import RouteOptions

EMBEDDINGS = frozenset({Feature.EMBEDDINGS})
FREE = Price()


@dataclass(frozen=True, slots=True)
class RoutedEmbeddings:
    vectors: list[list[float]]
    provider: str
    model: str
    usage: Usage
    cost: float
    currency: str
    attempts: tuple[Attempt, ...]
    latency: float  # seconds, whole request

    @property
    def dimensions(self) -> int:
        return len(self.vectors[0]) if self.vectors else 0


def embedding_price(spec: ProviderSpec, model: str) -> Price:
    """Only a price configured for the embedding model itself (`prices:`); the provider's
    chat price would be wrong for it."""
    return dict(spec.model_prices).get(model, spec.price if model == spec.model else FREE)


class EmbeddingResolver:
    """Embedding candidates from the caller's model and provider, like chat candidates but
    over each provider's `embedding_model` and `embedding_models`."""

    def __init__(self, slots: Sequence[Slot], aliases: Mapping[str, Sequence[str]]) -> None:
        self._slots = {s.name: s for s in slots}
        self._defaults = tuple(
            Candidate(s, s.spec.embedding_model) for s in slots if s.spec.embedding_model
        )
        self._by_model: dict[str, list[Candidate]] = {}
        for slot in slots:
            spec = slot.spec
            models = (spec.embedding_model, *spec.embedding_models) if spec.embedding_model else ()
            for model in dict.fromkeys(models or spec.embedding_models):
                self._by_model.setdefault(model, []).append(Candidate(slot, model))
        self._aliases = aliases

    def resolve(self, route: RouteOptions) -> Sequence[Candidate]:
        model = route.model
        if route.provider:
            return self._pinned(route.provider, model)
        if not model:
            if not self._defaults:
                raise _invalid("model", "no provider has an embedding_model; name a model")
            return self._defaults
        provider, slash, provider_model = model.partition("/")
        if slash and provider in self._slots:
            return self._pinned(provider, provider_model or "")
        if model in self._aliases:
            return self._alias(model)
        served = self._by_model.get(model)
        if served:
            return served
        raise NotFound(
            f"no provider serves embedding model or alias {model!r}",
            field="model",
            resource_type="model",
            name=model,
        )

    def _pinned(self, provider: str, model: str) -> Sequence[Candidate]:
        slot = self._slots.get(provider)
        if slot is None:
            raise NotFound(
                f"unknown provider {provider!r}",
                field="provider",
                resource_type="provider",
                name=provider,
            )
        if model.startswith(f"{provider}/"):
            model = model[len(provider) + 1 :]
        model = model or slot.spec.embedding_model or ""
        if not model:
            raise _invalid("model", f"provider {provider!r} has no embedding_model; name a model")
        return (Candidate(slot, model),)

    def _alias(self, alias: str) -> Sequence[Candidate]:
        out = []
        for target in self._aliases[alias]:
            provider, _, model = target.partition("/")
            slot = self._slots.get(provider)
            model = model or (slot.spec.embedding_model if slot else None) or ""
            if slot is not None and model:
                out.append(Candidate(slot, model))
        if not out:
            raise NotFound(
                f"alias {alias!r} has no enabled provider with an embedding model",
                field="model",
                resource_type="alias",
                name=alias,
            )
        return out


def interchangeable(candidates: Sequence[Candidate]) -> Sequence[Candidate]:
    """The strategy's order cut to the first choice's model. The first choice is the first
    candidate whose circuit may let a call through, so an open circuit does not decide."""
    if len(candidates) < 2:
        return candidates
    lead = next((c for c in candidates if c.slot.breaker.may_allow()), candidates[0])
    return [c for c in candidates if c.model == lead.model]


def embedding_candidates(resolver: EmbeddingResolver, route: RouteOptions) -> Sequence[Candidate]:
    return capable(resolver.resolve(route), EMBEDDINGS)


async def embed(
    runtime: Runtime, plan: Plan, request: EmbeddingRequest, deadline: float
) -> RoutedEmbeddings:
    started = runtime.clock()
    trail = Trail()
    turns = Turns(runtime, plan, trail, deadline)
    while (turn := turns.next()) is not None:
        outcome = await _call(runtime, turn, request, deadline, trail, started)
        if not isinstance(outcome, ProviderError):
            return outcome
        await turns.failed(outcome)
    raise trail.exhausted()


async def _call(
    runtime: Runtime,
    turn: Turn,
    request: EmbeddingRequest,
    deadline: float,
    trail: Trail,
    started: float,
) -> RoutedEmbeddings | ProviderError:
    """One call to one provider, recorded like a chat attempt (stats, circuit, trail,
    observers); returns the answer or the error to decide a retry on."""
    candidate, retry, probe = turn.candidate, turn.retry, turn.probe
    slot, spec, clock = candidate.slot, candidate.slot.spec, runtime.clock
    model = candidate.model_name
    start = clock()
    left = deadline - start
    deadline_bound = left < spec.timeout
    timeout = left if deadline_bound else spec.timeout
    slot.stats.on_start()
    record = AttemptRecord(request, spec, model, False, retry)
    runtime.observer.attempt_started(record)
    error: ProviderError
    try:
        async with asyncio.timeout(timeout):
            result = await slot.provider.embed(request.with_model(model), timeout=timeout)
        problem = _shape_problem(result, request)
        if problem is not None:
            raise ProviderError(ErrorKind.MALFORMED_RESPONSE, problem)
    except TimeoutError:
        error = ProviderError(ErrorKind.TIMEOUT, f"no answer within {timeout:.3g} s")
    except ProviderError as exc:
        error = exc
    except asyncio.CancelledError:
        latency = clock() - start
        observe_cancel(runtime.observer, record, latency)
        settle_cancel(slot, trail, model, latency=latency, retry=retry, probe=probe, deadline=False)
        raise
    except Exception as exc:
        error = unexpected_failure(slot.name, exc)
    else:
        return _succeeded(runtime, turn, record, result, trail, clock() - start, started)
    latency = clock() - start
    observe_failure(runtime.observer, record, error, latency)
    settle_failure(
        slot,
        trail,
        model,
        error,
        latency=latency,
        retry=retry,
        probe=probe,
        deadline_bound=deadline_bound,
    )
    return error


def _succeeded(
    runtime: Runtime,
    turn: Turn,
    record: AttemptRecord,
    result: Embeddings,
    trail: Trail,
    latency: float,
    started: float,
) -> RoutedEmbeddings:
    slot = turn.candidate.slot
    price = embedding_price(slot.spec, turn.candidate.model_name)
    cost = slot.succeeded(probe=turn.probe, latency=latency, usage=result.usage, price=price)
    trail.succeeded(slot.name, result.model, latency, turn.retry)
    observe_success(
        runtime.observer,
        record,
        model=result.model,
        latency=latency,
        usage=result.usage,
        cost=cost,
        currency=price.currency,
        finish_reason=None,
    )
    return RoutedEmbeddings(
        vectors=result.vectors,
        provider=slot.name,
        model=result.model,
        usage=result.usage,
        cost=cost,
        currency=price.currency,
        attempts=trail.frozen(),
        latency=runtime.clock() - started,
    )


def _shape_problem(result: Embeddings, request: EmbeddingRequest) -> str | None:
    """Vectors the caller could not use: a wrong count, or not the size it asked for."""
    if len(result.vectors) != len(request.inputs):
        return f"expected {len(request.inputs)} embeddings, got {len(result.vectors)}"
    if request.dimensions is not None and any(len(v) != request.dimensions for v in result.vectors):
        return f"asked for {request.dimensions} dimensions, got {result.dimensions}"
    return None


def _invalid(field: str, description: str) -> InvalidRequest:
    return InvalidRequest([FieldViolation(field, description)])
