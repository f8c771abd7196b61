"""Where and how a client connects, and what every call sends: shared by both clients."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from orchestrator_client.errors import OrchestratorError, StreamInterrupted

REQUEST_ID_KEY = "x-request-id"
DEFAULT_TARGET = "127.0.0.1:50051"

CallMetadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Connection:
    """Target, transport security and default metadata of a client."""

    target: str = DEFAULT_TARGET
    tls: bool = False
    root_certificates: bytes | None = None
    private_key: bytes | None = None
    certificate_chain: bytes | None = None
    credentials: grpc.ChannelCredentials | None = None
    server_name: str | None = None  # the name the server's certificate must carry, if not target's
    auth_token: str | None = None  # a gateway caller key, sent as `authorization: Bearer ...`
    metadata: Mapping[str, str] = field(default_factory=dict)
    load_balancing: str | None = None  # "round_robin" spreads calls over every DNS address
    options: Sequence[tuple[str, Any]] = ()

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        if self.credentials is not None:
            return self.credentials
        if self.tls or self.root_certificates or self.certificate_chain:
            return grpc.ssl_channel_credentials(
                self.root_certificates, self.private_key, self.certificate_chain
            )
        return None

    def channel_options(self) -> list[tuple[str, Any]]:
        options: list[tuple[str, Any]] = [
            # Keep idle connections alive through proxies; the server allows pings every 10 s.
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
        ]
        if self.load_balancing:
            config: dict[str, Any] = {"loadBalancingConfig": [{self.load_balancing: {}}]}
            options.append(("grpc.service_config", json.dumps(config)))
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        return options + list(self.options)

    def call_metadata(
        self, request_id: str | None = None, extra: Mapping[str, str] | None = None
    ) -> CallMetadata:
        headers = dict(self.metadata)
        if self.auth_token:
            headers["authorization"] = f"Bearer {self.auth_token}"
        headers.update(extra or {})
        if request_id:
            headers[REQUEST_ID_KEY] = request_id
        return tuple((k.lower(), v) for k, v in headers.items())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Client-side retries of calls that failed with a retryable status (UNAVAILABLE).

    The delay is the server's RetryInfo when it sent one, else exponential backoff with full
    jitter. The call's deadline bounds every attempt and wait together. A stream is retried
    only before it delivered anything; a stream that broke mid-way never is.
    """

    max_attempts: int = 3
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    max_retry_info_delay: float = 10.0  # a longer RetryInfo is not waited out: the error is raised
    codes: frozenset[grpc.StatusCode] = frozenset({grpc.StatusCode.UNAVAILABLE})

    def delay(
        self,
        error: OrchestratorError,
        calls: int,
        remaining: float | None,
        rng: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait before call number `calls + 1`, or None to give up."""
        if calls >= self.max_attempts or error.code not in self.codes:
            return None
        if isinstance(error, StreamInterrupted):
            return None
        if error.retry_after is not None:
            if error.retry_after > self.max_retry_info_delay:
                return None
            wait = error.retry_after
        else:
            wait = rng() * min(self.max_backoff, self.initial_backoff * 2 ** (calls - 1))
        if remaining is not None and wait >= remaining:
            return None
        return wait


class Budget:
    """A call's deadline, spread over its attempts."""

    def __init__(self, timeout: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._deadline = None if timeout is None else clock() + timeout

    def remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - self._clock())


def retry_delay(
    retry: RetryPolicy | None, error: OrchestratorError, calls: int, budget: Budget
) -> float | None:
    """How long to wait before retrying, or None to raise `error` now."""
    return None if retry is None else retry.delay(error, calls, budget.remaining())
