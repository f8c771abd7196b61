"""One configured provider as the router keeps it: the adapter, its stats and its circuit.

Every call's outcome goes through here, so stats and circuit never disagree about it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from orchestrator_server.config.models import CircuitBreakerConfig, HealthConfig
from orchestrator_server.domain.chat import Usage
from orchestrator_server.domain.errors import ProviderError
from orchestrator_server.providers.base import Price, Provider, ProviderSpec
from orchestrator_server.routing.circuit import CircuitBreaker
from orchestrator_server.routing.stats import ProviderStats
from orchestrator_server.routing.types import CircuitState, ProviderSnapshot

log = logging.getLogger(__name__)


class Slot:
    __slots__ = ("breaker", "name", "provider", "spec", "stats")

    def __init__(
        self,
        provider: Provider,
        health: HealthConfig,
        circuit: CircuitBreakerConfig,
        clock: Callable[[], float],
    ) -> None:
        self.provider = provider
        self.spec: ProviderSpec = provider.spec
        self.name = self.spec.name
        self.stats = ProviderStats(health, clock=clock)
        self.breaker = CircuitBreaker(circuit, clock=clock)

    def admit(self) -> bool | None:
        """None: the circuit refuses. Otherwise whether this call is the half-open probe."""
        breaker = self.breaker
        if not breaker.allow():
            return None
        return breaker.state is CircuitState.HALF_OPEN

    def succeeded(
        self,
        *,
        probe: bool,
        latency: float,
        usage: Usage,
        price: Price,
        ttft: float | None = None,
    ) -> float:
        """Records a success and returns its cost at `price` (the served model's)."""
        cost = price.cost(usage.prompt_tokens, usage.completion_tokens)
        self.stats.record_success(latency, usage, cost, ttft=ttft)
        if probe and self.breaker.record_success(probe=True):
            # The old failures would otherwise re-open the circuit at the next error.
            self.stats.reset_health()
            log.warning("provider %s recovered: circuit closed", self.name)
        return cost

    def failed(self, error: ProviderError, *, probe: bool) -> None:
        stats = self.stats
        stats.record_failure(error)
        log.debug("provider %s failed: %s", self.name, error.kind.value)
        if not error.policy.counts_against_health:
            self.breaker.release(probe=probe)
            return
        breaker = self.breaker
        if breaker.record_failure(probe=probe, health=stats.health()):
            log.warning(
                "provider %s is unhealthy: circuit open for %.1f s (last error: %s)",
                self.name,
                breaker.cooldown,
                error.kind.value,
            )

    def cancelled(self, *, probe: bool) -> None:
        self.stats.record_cancelled()
        self.breaker.release(probe=probe)

    def snapshot(self) -> ProviderSnapshot:
        return self.stats.snapshot(self.spec, self.breaker.state)
