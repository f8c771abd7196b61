"""Retries inside one provider: bounded exponential backoff with full jitter, honouring the
provider's Retry-After, and never sleeping past the caller's deadline."""

from __future__ import annotations

import random
from collections.abc import Callable

from orchestrator_server.config.models import RetryConfig
from orchestrator_server.domain.errors import ProviderError

_MAX_EXPONENT = 32  # 2**32 times any sane base_delay is far past max_delay already


class RetryPolicy:
    __slots__ = ("_config", "_rng")

    def __init__(self, config: RetryConfig, rng: random.Random) -> None:
        self._config = config
        self._rng = rng

    def backoff(self, retry: int) -> float:
        """Full jitter (uniform from zero) spreads the retries of many callers that failed
        together, instead of bringing them back in a wave."""
        config = self._config
        ceiling = min(config.max_delay, config.base_delay * 2.0 ** min(retry, _MAX_EXPONENT))
        return self._rng.uniform(0.0, ceiling)

    def delay(
        self,
        error: ProviderError,
        *,
        retry: int,
        max_retries: int,
        time_left: float,
        has_next: Callable[[], bool],
    ) -> float | None:
        """Seconds to wait before calling the same provider again after `error` ended the
        attempt with retry index `retry`, or None to give up on this provider."""
        if retry >= max_retries or not error.policy.retry:
            return None
        wait = self.backoff(retry)
        retry_after = error.retry_after
        if retry_after is not None:
            config = self._config
            if retry_after > config.max_retry_after:
                return None
            if retry_after > config.failover_after and has_next():
                return None
            wait = max(wait, retry_after)
        # Waiting until the deadline would leave no time for the call itself.
        if wait >= time_left:
            return None
        return wait
