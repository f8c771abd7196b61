"""Runs every provider's free health check: are the URLs, keys and TLS settings right?"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator_server.domain.errors import ProviderError
from orchestrator_server.providers.base import Provider


@dataclass(frozen=True, slots=True)
class CheckResult:
    provider: str
    kind: str
    ok: bool
    error_code: str = ""
    message: str = ""
    latency: float = 0.0


async def check_providers(providers: Sequence[Provider], *, timeout: float) -> list[CheckResult]:
    """Checks all providers concurrently, each within `timeout` seconds, in config order."""
    return list(await asyncio.gather(*(_check(p, timeout) for p in providers)))


async def _check(provider: Provider, timeout: float) -> CheckResult:
    spec = provider.spec
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            await provider.check_health()
    except ProviderError as exc:
        return CheckResult(
            spec.name, spec.kind, False, exc.kind.value, exc.message, time.monotonic() - started
        )
    except TimeoutError:
        return CheckResult(
            spec.name, spec.kind, False, "timeout", f"no answer within {timeout:g} s", timeout
        )
    return CheckResult(spec.name, spec.kind, True, latency=time.monotonic() - started)
