"""The one protocol every validator implements, and the single HTTP call they all make it
through (time budget, transport failures as verdicts; the shared client never follows a
redirect)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator_server.domain.errors import ProviderError
from orchestrator_server.providers.http.client import HttpClient, HttpReply
from orchestrator_server.validation.outcomes import from_transport, verdict
from orchestrator_server.validation.types import KeyCheck, ValidationCode, Verdict


@dataclass(frozen=True, slots=True)
class Target:
    """Where a check goes: an allowed base URL, the pooled client for it (with the TLS
    options of the provider it came from) and the API version that entry names, if any."""

    url: str
    client: HttpClient
    api_version: str | None = None


class Budget:
    """The time one validation may take, across all its calls."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._ends = self._started + seconds

    def left(self) -> float:
        return self._ends - self._clock()

    def spent(self) -> float:
        return self._clock() - self._started


class Validator(Protocol):
    async def validate(self, check: KeyCheck, target: Target | None, budget: Budget) -> Verdict:
        """Checks `check.api_key` at `target` (None only for kinds without a network, i.e.
        mock) within `budget`. Never raises for anything the provider says or does; every
        outcome is a verdict."""
        ...


def require(target: Target | None) -> Target:
    if target is None:
        raise ValueError("this validator needs a target URL")
    return target


async def send(
    target: Target,
    method: str,
    url: str,
    *,
    budget: Budget,
    headers: Mapping[str, str],
    json_body: Any = None,
    data: Mapping[str, str] | None = None,
    request_id: str = "",
) -> HttpReply | Verdict:
    """One call within the time left; a verdict instead of a reply when it never got one."""
    left = budget.left()
    if left <= 0:
        return verdict(ValidationCode.NETWORK_TIMEOUT, "no time left for another call")
    try:
        return await target.client.request(
            method,
            url,
            timeout=left,
            headers=headers,
            json_body=json_body,
            data=data,
        )
    except ProviderError as exc:
        return from_transport(exc, request_id=request_id)


def json_object(reply: HttpReply) -> dict[str, Any] | None:
    """A 200 body as a JSON object, or None when it is anything else."""
    try:
        body = reply.json()
    except ProviderError:
        return None
    return body if isinstance(body, dict) else None
