"""Every call to a remote backend goes through one guard: bounded by the configured timeout
and the caller's deadline, its failures counted and logged once per outage, not per call."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

from redis.exceptions import RedisError

from orchestrator_server.domain.redact import redact

log = logging.getLogger("orchestrator_server.state")
T = TypeVar("T")
REMINDER_EVERY = 60.0  # seconds between "still failing" log lines during an outage


class BackendFailed(Exception):
    """A backend call failed or ran out of time; the caller decides what that means."""

    def __init__(self, operation: str, cause: str) -> None:
        super().__init__(f"shared state backend: {operation} failed ({cause})")
        self.operation = operation
        self.cause = cause


class Guard:
    def __init__(
        self,
        timeout: float,
        *,
        slots: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`slots`: calls in flight at once (the connection pool's size). Waiting for one is
        first come, first served and counts against the call's time: the client's own pool
        wakes waiters in no fixed order, and under a burst larger than the pool some calls
        waited seconds while others went by."""
        self.timeout = timeout
        self._slots = None if slots is None else asyncio.Semaphore(slots)
        self._clock = clock
        self.errors: Counter[str] = Counter()  # operation -> failed calls
        self._failing_since: float | None = None
        self._reminded_at = 0.0
        self._failed_in_outage = 0

    @property
    def failing(self) -> bool:
        return self._failing_since is not None

    async def run(
        self, operation: str, call: Callable[[], Awaitable[T]], time_left: float | None = None
    ) -> T:
        """`call()`'s result, or BackendFailed within min(timeout, time_left) seconds."""
        limit = self.timeout if time_left is None else min(self.timeout, time_left)
        if limit <= 0:
            # The caller's deadline has passed: not the backend's failure, so not counted.
            raise BackendFailed(operation, "no time left before the caller's deadline")
        try:
            async with asyncio.timeout(limit):
                if self._slots is None:
                    result = await call()
                else:
                    async with self._slots:
                        result = await call()
        except TimeoutError:
            self._failed(operation, f"no answer within {limit * 1000:.0f} ms")
        except (RedisError, OSError) as exc:
            self._failed(operation, redact(f"{type(exc).__name__}: {exc}"))
        if self._failing_since is not None:
            self._recovered()
        return result

    def _failed(self, operation: str, cause: str) -> NoReturn:
        self.errors[operation] += 1
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = self._reminded_at = now
            self._failed_in_outage = 1
            log.warning("shared state backend unavailable: %s failed (%s)", operation, cause)
        else:
            self._failed_in_outage += 1
            if now - self._reminded_at >= REMINDER_EVERY:
                self._reminded_at = now
                log.warning(
                    "shared state backend still unavailable for %.0f s: %d calls failed (%s)",
                    now - self._failing_since,
                    self._failed_in_outage,
                    cause,
                )
        raise BackendFailed(operation, cause)

    def _recovered(self) -> None:
        assert self._failing_since is not None
        log.info(
            "shared state backend is back after %.1f s; %d calls failed meanwhile",
            self._clock() - self._failing_since,
            self._failed_in_outage,
        )
        self._failing_since = None
