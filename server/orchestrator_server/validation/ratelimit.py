"""ValidateKey's own limit: a token bucket, so a caller cannot turn the gateway into a
fast key-guessing machine against a provider (or get the gateway's IP banned there)."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def take(self) -> float | None:
        """Takes one token: None when there was one, else the seconds until there is."""
        self.take_nothing()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / self._rate

    def reconfigure(self, rate: float, burst: int) -> None:
        """A new rate and burst; the tokens in hand stay (up to the new burst)."""
        self.take_nothing()
        self._rate = rate
        self._burst = float(burst)
        self._tokens = min(self._tokens, self._burst)

    def take_nothing(self) -> None:
        """Brings the bucket up to now at the old rate."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
