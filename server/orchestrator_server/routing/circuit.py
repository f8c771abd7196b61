"""A circuit breaker per provider: stop calling an UNHEALTHY provider for a cooldown, then
let a single probe find out whether it has recovered.

Outcomes are reported with `probe=True` only by the call that claimed the half-open slot;
results of calls that started before the circuit opened are ignored, so a late straggler
can neither close the circuit nor extend its cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from orchestrator_server.config.models import CircuitBreakerConfig
from orchestrator_server.routing.types import CircuitState, HealthClass


class CircuitBreaker:
    __slots__ = ("_base", "_clock", "_cooldown", "_max", "_probe_at", "_probing", "_state")

    def __init__(
        self, config: CircuitBreakerConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._base = config.cooldown
        self._max = max(config.max_cooldown, config.cooldown)
        self._cooldown = config.cooldown
        self._state = CircuitState.CLOSED
        self._probe_at = 0.0
        self._probing = False

    @property
    def state(self) -> CircuitState:
        return self._state

    @property
    def cooldown(self) -> float:
        """The cooldown the circuit opens (or last opened) for."""
        return self._cooldown

    def allow(self) -> bool:
        """May the caller call the provider now? In half-open, True claims the probe slot,
        and the caller must report the outcome with probe=True."""
        state = self._state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.OPEN:
            if self._clock() < self._probe_at:
                return False
            self._state = CircuitState.HALF_OPEN
        elif self._probing:
            return False
        self._probing = True
        return True

    def may_allow(self) -> bool:
        """Would allow() admit a call now? Claims nothing."""
        state = self._state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.OPEN:
            return self._clock() >= self._probe_at
        return not self._probing

    def seconds_until_probe(self) -> float:
        if self._state is CircuitState.OPEN:
            return max(0.0, self._probe_at - self._clock())
        return 0.0

    def record_success(self, *, probe: bool) -> bool:
        """Returns True when this success closed the circuit."""
        if not probe or self._state is not CircuitState.HALF_OPEN:
            return False
        self._state = CircuitState.CLOSED
        self._probing = False
        self._cooldown = self._base
        return True

    def record_failure(self, *, probe: bool, health: HealthClass) -> bool:
        """A failure that counts against the provider. Returns True when the circuit opened."""
        state = self._state
        if state is CircuitState.HALF_OPEN:
            if not probe:
                return False
            self._cooldown = min(self._cooldown * 2.0, self._max)
        elif state is CircuitState.OPEN or health is not HealthClass.UNHEALTHY:
            return False
        self._state = CircuitState.OPEN
        self._probing = False
        self._probe_at = self._clock() + self._cooldown
        return True

    def release(self, *, probe: bool) -> None:
        """The call ended with no verdict (cancelled, or a fault of the request): free the
        probe slot for the next caller without changing state."""
        if probe and self._state is CircuitState.HALF_OPEN:
            self._probing = False
