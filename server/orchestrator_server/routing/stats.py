"""Per-provider statistics: the health class the router asks for on every request, and the
counters GetMetrics reports.

Recording an outcome and judging health are O(1) amortised: running sums are kept beside
the windows and old entries leave from the left once each. Sorting (percentiles) happens
only in snapshot(), which is off the request path.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from orchestrator_server.config.models import HealthConfig
from orchestrator_server.domain.chat import Usage
from orchestrator_server.domain.errors import ERROR_POLICY, ProviderError
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.routing.types import (
    CircuitState,
    HealthClass,
    LastError,
    ProviderSnapshot,
)

# The long-run latency baseline is the plain mean of the samples that have left the rolling
# window until it has this many latency_windows behind it, then an exponentially weighted
# mean with that span. A plain all-time mean never forgets: a provider whose normal speed
# changed for good (a new model version, a moved region) would stay DEGRADED, and so be
# starved by best-available, for as long as its history. The EWMA accepts a lasting change
# after a few hundred samples while a burst of slow answers still stands out against it.
_BASELINE_SPAN_WINDOWS = 10


def _percentile(ordered: list[float], q: float) -> float:
    # Nearest rank: always an observed value, no interpolation between two answers.
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class ProviderStats:
    __slots__ = (
        "_baseline",
        "_baseline_alpha",
        "_baseline_n",
        "_clock",
        "_config",
        "_consecutive",
        "_failures",
        "_latency_total",
        "_outcomes",
        "_recent",
        "_rolling",
        "_rolling_retired",
        "_rolling_sum",
        "_ttft",
        "_wall",
        "completion_tokens",
        "cost",
        "in_flight",
        "last_error",
        "prompt_tokens",
        "requests_failed",
        "requests_ok",
        "requests_total",
    )

    def __init__(
        self,
        config: HealthConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._clock = clock
        self._wall = wall
        # Health window: (monotonic time, failed) of the last `window` outcomes that count.
        self._outcomes: deque[tuple[float, bool]] = deque()
        self._failures = 0
        self._consecutive = 0
        # Rolling latency: (monotonic time, seconds) of the last `latency_window` successes.
        self._rolling: deque[tuple[float, float]] = deque()
        self._rolling_sum = 0.0
        self._rolling_retired = 0
        self._baseline = 0.0
        self._baseline_n = 0
        self._baseline_alpha = 1.0 / (config.latency_window * _BASELINE_SPAN_WINDOWS)
        # For percentiles and time to first token in snapshots only.
        self._recent: deque[float] = deque(maxlen=config.window)
        self._ttft: deque[float] = deque(maxlen=config.latency_window)
        self._latency_total = 0.0
        self.requests_total = 0
        self.requests_ok = 0
        self.requests_failed = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost = 0.0
        self.in_flight = 0
        self.last_error: LastError | None = None

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    # -- recording ---------------------------------------------------------------------

    def on_start(self) -> None:
        self.in_flight += 1

    def record_success(
        self, latency: float, usage: Usage, cost: float, *, ttft: float | None = None
    ) -> None:
        self.in_flight -= 1
        self.requests_total += 1
        self.requests_ok += 1
        self._latency_total += latency
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost += cost
        self._consecutive = 0
        now = self._clock()
        self._push_outcome(now, failed=False)
        rolling = self._rolling
        rolling.append((now, latency))
        self._rolling_sum += latency
        if len(rolling) > self._config.latency_window:
            self._retire(rolling.popleft()[1])
        self._recent.append(latency)
        if ttft is not None:
            self._ttft.append(ttft)

    def record_failure(self, error: ProviderError) -> None:
        kind = error.kind
        self.in_flight -= 1
        self.requests_total += 1
        self.requests_failed += 1
        self.last_error = LastError(kind.value, error.message, self._wall())
        if ERROR_POLICY[kind].counts_against_health:
            self._consecutive += 1
            self._push_outcome(self._clock(), failed=True)

    def record_cancelled(self) -> None:
        # The caller (or its deadline) ended the call: no verdict on the provider.
        self.in_flight -= 1
        self.requests_total += 1

    def reset_health(self) -> None:
        """Forget the outcome window, so failures from before a recovery do not count again."""
        self._outcomes.clear()
        self._failures = 0
        self._consecutive = 0

    # -- judging -----------------------------------------------------------------------

    def health(self) -> HealthClass:
        self._expire(self._clock())
        config = self._config
        samples = len(self._outcomes)
        # Only failures still in the window count as a run, so an idle provider's old run ages
        # out; a window smaller than the threshold caps it.
        if min(self._consecutive, samples) >= min(config.consecutive_failures, config.window):
            return HealthClass.UNHEALTHY
        if samples >= config.min_samples:
            rate = self._failures / samples
            if rate > config.unhealthy_error_rate:
                return HealthClass.UNHEALTHY
            if rate > config.degraded_error_rate:
                return HealthClass.DEGRADED
        if self._latency_degraded():
            return HealthClass.DEGRADED
        return HealthClass.HEALTHY

    def rolling_latency(self) -> float | None:
        self._expire(self._clock())
        rolling = self._rolling
        return self._rolling_sum / len(rolling) if rolling else None

    def error_rate(self) -> float:
        self._expire(self._clock())
        samples = len(self._outcomes)
        return self._failures / samples if samples else 0.0

    def _latency_degraded(self) -> bool:
        config = self._config
        window = config.latency_window
        rolling = len(self._rolling)
        if self._baseline_n < window or rolling < window:
            return False
        current = self._rolling_sum / rolling
        baseline = self._baseline
        return (
            current > config.latency_factor * baseline
            and current - baseline > config.latency_min_increase
        )

    # -- windows -----------------------------------------------------------------------

    def _push_outcome(self, now: float, *, failed: bool) -> None:
        self._expire(now)
        outcomes = self._outcomes
        if len(outcomes) >= self._config.window and outcomes.popleft()[1]:
            self._failures -= 1
        outcomes.append((now, failed))
        if failed:
            self._failures += 1

    def _expire(self, now: float) -> None:
        cutoff = now - self._config.error_ttl
        outcomes = self._outcomes
        while outcomes and outcomes[0][0] < cutoff:
            if outcomes.popleft()[1]:
                self._failures -= 1
        rolling = self._rolling
        while rolling and rolling[0][0] < cutoff:
            self._retire(rolling.popleft()[1])

    def _retire(self, latency: float) -> None:
        """Move a sample from the rolling window into the long-run baseline."""
        self._rolling_sum -= latency
        self._rolling_retired += 1
        # Adding and subtracting floats drifts; a fresh sum every window keeps it exact enough
        # at O(1) amortised cost.
        rolling = self._rolling
        if not rolling:
            self._rolling_sum = 0.0
        elif self._rolling_retired >= self._config.latency_window:
            self._rolling_sum = math.fsum(sample for _, sample in rolling)
            self._rolling_retired = 0
        self._baseline_n += 1
        weight = max(1.0 / self._baseline_n, self._baseline_alpha)
        self._baseline += weight * (latency - self._baseline)

    # -- reporting ---------------------------------------------------------------------

    def snapshot(self, spec: ProviderSpec, circuit: CircuitState) -> ProviderSnapshot:
        recent = sorted(self._recent)
        ttft = self._ttft
        health = self.health()
        if circuit is CircuitState.OPEN:
            # It is not being called: whatever its window says, it serves nothing now.
            health = HealthClass.UNHEALTHY
        return ProviderSnapshot(
            name=spec.name,
            kind=spec.kind,
            model=spec.model,
            weight=spec.weight,
            health=health,
            circuit_state=circuit,
            requests_total=self.requests_total,
            requests_ok=self.requests_ok,
            requests_failed=self.requests_failed,
            # Over the recent window, as health is; 0 with nothing in it (no data, not success).
            success_rate=1.0 - self.error_rate() if self._outcomes else 0.0,
            average_latency=self._latency_total / self.requests_ok if self.requests_ok else None,
            rolling_latency=self.rolling_latency(),
            p50_latency=_percentile(recent, 0.50) if recent else None,
            p95_latency=_percentile(recent, 0.95) if recent else None,
            time_to_first_token=math.fsum(ttft) / len(ttft) if ttft else None,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.cost,
            currency=spec.price.currency,
            consecutive_failures=self._consecutive,
            in_flight=self.in_flight,
            last_error=self.last_error,
            recent_samples=len(self._outcomes),
        )
