"""Runs every provider's free health check: are the URLs, keys and TLS settings right?"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

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
    endpoint: str = ""  # the base URL it was checked at ("" for in-process providers)


async def check_providers(providers: Sequence[Provider], *, timeout: float) -> list[CheckResult]:
    """Checks all providers concurrently, each within `timeout` seconds, in config order."""
    return list(await asyncio.gather(*(_check(p, timeout) for p in providers)))


def endpoint_of(provider: Provider) -> str:
    """An HTTP adapter's base URL without credentials or query (which may carry a key)."""
    url = getattr(provider, "base_url", None)
    if not isinstance(url, str) or not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def _check(provider: Provider, timeout: float) -> CheckResult:
    spec = provider.spec
    endpoint = endpoint_of(provider)
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            await provider.check_health()
    except ProviderError as exc:
        elapsed = time.monotonic() - started
        return CheckResult(
            spec.name, spec.kind, False, exc.kind.value, exc.message, elapsed, endpoint
        )
    except TimeoutError:
        message = f"no answer within {timeout:g} s"
        return CheckResult(spec.name, spec.kind, False, "timeout", message, timeout, endpoint)
    return CheckResult(
        spec.name, spec.kind, True, latency=time.monotonic() - started, endpoint=endpoint
    )
