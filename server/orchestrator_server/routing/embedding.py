"""The Embed path of the router: which providers may embed a batch, and its calls. Fallback
only goes to candidates whose vectors are interchangeable with the first choice's (the same
embedding model; dimensions are the request's), since vectors of another model mean nothing
next to the ones a caller already stored.

An Embed call is an Attempt like a chat call (routing/attempt.py): the same owner settles
stats, circuit, trail and observers, in the same order, with the same verdicts; the Run
walks retries and fallback and answers deadlines and shutdown cuts the same way. What
differs is only the call, the check of the vectors and the price."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from orchestrator_server.domain.capabilities import Feature
from orchestrator_server.domain.embeddings import EmbeddingRequest, Embeddings
from orchestrator_server.domain.errors import (
    ErrorKind,
    FieldViolation,
    InvalidRequest,
    NotFound,
    ProviderError,
)
from orchestrator_server.providers.base import Price, ProviderSpec
from orchestrator_server.routing.attempt import Attempt
from orchestrator_server.routing.candidates import Candidate, named_listing
from orchestrator_server.routing.capabilities import capable
from orchestrator_server.routing.run import Run
from orchestrator_server.routing.slot import Slot
from orchestrator_server.routing.trail import unknown_model
from orchestrator_server.routing.turns import Turn
from orchestrator_server.routing.types import RoutedEmbeddings, RouteOptions

EMBEDDINGS = frozenset({Feature.EMBEDDINGS})
FREE = Price()


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
        self.listing = named_listing("embedding models", list(self._by_model))

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
        raise unknown_model(
            f"no provider serves embedding model or alias {model!r}", model, listing=self.listing
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


async def embed(run: Run[EmbeddingRequest], listing: str) -> RoutedEmbeddings:
    """Vectors for the Run's batch from the first candidate that answers, with the chat
    paths' retries and fallback; `listing` names the embedding models there are, for a model
    no provider knows."""
    while (turn := run.turns.next()) is not None:
        attempt = EmbedAttempt(run, turn)
        answer = await attempt.vectors()
        if answer is not None:
            return answer
        assert attempt.error is not None
        await run.turns.failed(attempt.error)
    raise run.trail.exhausted(run.model, listing)


class EmbedAttempt(Attempt[EmbeddingRequest]):
    """One Embed call to one provider, settled like every other attempt."""

    __slots__ = ("result",)

    def __init__(self, run: Run[EmbeddingRequest], turn: Turn) -> None:
        super().__init__(run, turn)
        self.result: Embeddings | None = None

    async def vectors(self) -> RoutedEmbeddings | None:
        """The answer, or None after a failure worth a retry or the next candidate (`error`
        says which). Raises when the request as a whole must end."""
        run = self.run
        request = run.request
        with self:
            async with asyncio.timeout(self.timeout):
                self.result = result = await self.slot.provider.embed(
                    request.with_model(self.candidate.model_name), timeout=self.timeout
                )
            problem = _shape_problem(result, request)
            if problem is not None:
                raise ProviderError(ErrorKind.MALFORMED_RESPONSE, problem)
        if self.error is not None:
            return None
        answer = self.result
        assert answer is not None
        record = self.record
        return RoutedEmbeddings(
            vectors=answer.vectors,
            provider=self.slot.name,
            model=answer.model,
            usage=answer.usage,
            cost=record.cost,
            currency=record.currency,
            attempts=run.trail.frozen(),
            latency=run.runtime.clock() - run.started,
        )

    def _ended_cleanly(self) -> ProviderError | None:
        result = self.result
        assert result is not None
        self._settle_success(result.model, result.usage, None)
        return None

    def _price(self) -> Price:
        return embedding_price(self.spec, self.candidate.model_name)


def _shape_problem(result: Embeddings, request: EmbeddingRequest) -> str | None:
    """Vectors the caller could not use: a wrong count, or not the size it asked for."""
    if len(result.vectors) != len(request.inputs):
        return f"expected {len(request.inputs)} embeddings, got {len(result.vectors)}"
    if request.dimensions is not None and any(len(v) != request.dimensions for v in result.vectors):
        return f"asked for {request.dimensions} dimensions, got {result.dimensions}"
    return None


def _invalid(field: str, description: str) -> InvalidRequest:
    return InvalidRequest([FieldViolation(field, description)])
