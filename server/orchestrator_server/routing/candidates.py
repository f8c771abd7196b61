"""Which (provider, model) pairs may serve a request, from the caller's RouteOptions.

The answers for the common cases (no model, an alias, a model name some providers serve)
are built once, so resolving them on the request path allocates nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator_server.domain.errors import FieldViolation, InvalidRequest, NotFound
from orchestrator_server.routing.slot import Slot
from orchestrator_server.routing.trail import unknown_model
from orchestrator_server.routing.types import HealthClass, RouteOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Candidate:
    slot: Slot
    model: str | None  # the model to request; None = the provider's default

    @property
    def name(self) -> str:
        return self.slot.name

    @property
    def model_name(self) -> str:
        return self.model or self.slot.spec.model

    @property
    def weight(self) -> float:
        return self.slot.spec.weight

    @property
    def price(self) -> float:
        return self.slot.spec.price_for(self.model_name).per_1k

    def latency(self) -> float | None:
        return self.slot.stats.rolling_latency()

    def health(self) -> HealthClass:
        return self.slot.stats.health()


def _invalid_model(description: str) -> InvalidRequest:
    return InvalidRequest([FieldViolation("model", description)])


_LISTED = 20  # names quoted in a NOT_FOUND message; ListModels has them all


def named_listing(label: str, names: Sequence[str]) -> str:
    if not names:
        return f"{label}: none"
    shown = ", ".join(names[:_LISTED])
    more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    return f"{label}: {shown}{more}"


class CandidateResolver:
    def __init__(
        self, slots: Sequence[Slot], aliases: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self._slots: dict[str, Slot] = {}
        for slot in slots:
            if slot.name in self._slots:
                raise ValueError(f"provider name {slot.name!r} is used twice")
            self._slots[slot.name] = slot
        self._defaults = {s.name: (Candidate(s, None),) for s in slots}
        self._all = tuple(self._defaults[s.name][0] for s in slots)
        self._by_model: dict[str, tuple[Candidate, ...]] = {}
        for slot in slots:
            for model in dict.fromkeys((slot.spec.model, *slot.spec.models)):
                self._by_model[model] = (*self._by_model.get(model, ()), Candidate(slot, model))
        self._aliases = {
            alias: self._alias_targets(alias, targets) for alias, targets in (aliases or {}).items()
        }
        # What a caller who named something unknown can use instead, said once here.
        served = [
            f"{s.name}/{m}" for s in slots for m in dict.fromkeys((s.spec.model, *s.spec.models))
        ]
        self._model_hint = "; ".join(
            [named_listing("models", served), named_listing("aliases", list(self._aliases))]
        )
        self._provider_hint = named_listing("providers", list(self._slots))

    @property
    def model_listing(self) -> str:
        """The models and aliases there are, as an unknown-model answer lists them."""
        return self._model_hint

    def _alias_targets(self, alias: str, targets: Sequence[str]) -> tuple[Candidate, ...]:
        found: list[Candidate] = []
        for target in targets:
            provider, _, model = target.partition("/")
            slot = self._slots.get(provider)
            if slot is None:
                # Config validation knows every provider; this one is disabled or removed.
                log.warning("alias %s: provider %s is not enabled; target skipped", alias, provider)
                continue
            found.append(Candidate(slot, model or None))
        return tuple(found)

    def resolve(self, route: RouteOptions) -> Sequence[Candidate]:
        """Candidates in configured order (alias targets in the alias's order)."""
        model = route.model
        if route.provider:
            return self._pinned(route.provider, model)
        if not model:
            return self._all
        if "/" in model:
            provider, _, provider_model = model.partition("/")
            slot = self._slots.get(provider)
            if slot is not None:
                if not provider_model:
                    raise _invalid_model(f"{model!r} names no model after the provider")
                return (Candidate(slot, provider_model),)
            # Model names may hold a slash themselves ("meta-llama/llama-3-8b").
            served = self._by_model.get(model)
            if served:
                return served
            raise NotFound(
                f"unknown provider {provider!r} in model {model!r}",
                field="model",
                resource_type="provider",
                name=provider,
                listing=self._provider_hint,
            )
        aliased = self._aliases.get(model)
        if aliased is not None:
            if not aliased:
                raise NotFound(
                    f"alias {model!r} has no enabled provider",
                    field="model",
                    resource_type="alias",
                    name=model,
                )
            return aliased
        served = self._by_model.get(model)
        if served:
            return served
        raise unknown_model(
            f"no provider serves model or alias {model!r}", model, listing=self._model_hint
        )

    def _pinned(self, provider: str, model: str) -> Sequence[Candidate]:
        slot = self._slots.get(provider)
        if slot is None:
            raise NotFound(
                f"unknown provider {provider!r}",
                field="provider",
                resource_type="provider",
                name=provider,
                listing=self._provider_hint,
            )
        if not model:
            return self._defaults[provider]
        if "/" in model:
            named, _, provider_model = model.partition("/")
            if named == provider:
                if not provider_model:
                    raise _invalid_model(f"{model!r} names no model after the provider")
                return (Candidate(slot, provider_model),)
            if named in self._slots:
                raise _invalid_model(
                    f"{model!r} names provider {named!r} but the request is pinned to {provider!r}"
                )
            # Not a provider prefix: a model name with a slash, passed to the pinned provider.
        aliased = self._aliases.get(model)
        if aliased is not None:
            mine = tuple(c for c in aliased if c.slot is slot)
            if not mine:
                raise _invalid_model(f"alias {model!r} has no target on provider {provider!r}")
            return mine
        # The caller chose the provider; it knows its models better than our config may.
        for served in self._by_model.get(model, ()):
            if served.slot is slot:
                return (served,)
        return (Candidate(slot, model),)
