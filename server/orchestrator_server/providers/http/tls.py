"""TLS for provider connections: one SSLContext per (verification, CA bundle), shared by every
client that needs it, and built off the event loop where the loop is serving.

Building a context reads the system's CA store (and a bundle), about 25 ms of CPU: once per
provider on a reload, that stalled the loop for every call in flight. Contexts are cached by
what they are built from (a bundle by its path, size and modification time, so an edited
bundle gets a new one); `prepare` builds the missing ones in a worker thread before a reload
or a ValidateKey call needs them, and `ssl_context` then only looks them up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from orchestrator_server.config.providers import HttpProviderBase

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TlsOptions:
    verify: bool = True
    ca_bundle: Path | None = None

    @classmethod
    def of(cls, config: HttpProviderBase) -> TlsOptions:
        return cls(verify=config.verify_ssl, ca_bundle=config.ca_bundle)


DEFAULT_TLS = TlsOptions()

_CacheKey = tuple[str | None, int, int]
_CONTEXTS: dict[_CacheKey, ssl.SSLContext] = {}


def ssl_context(tls: TlsOptions, provider: str) -> ssl.SSLContext | bool:
    """The shared context for `tls` (False: no verification, said loudly). Built here, on
    the caller's thread, only when `prepare` has not built it already."""
    if not tls.verify:
        log.warning(
            "provider %s: TLS certificate verification is OFF (verify_ssl: false); "
            "anyone on the network path can read its traffic and keys",
            provider,
        )
        return False
    key = _key(tls)
    context = _CONTEXTS.get(key)
    if context is None:
        context = _CONTEXTS[key] = _build(tls)
    return context


async def prepare(options: Iterable[TlsOptions]) -> None:
    """Builds, in a worker thread, the contexts `options` need that are not cached yet.
    A bundle that cannot be read or parsed is left for `ssl_context` to report."""
    missing: dict[_CacheKey, TlsOptions] = {}
    for tls in options:
        if tls.verify:
            key = _key(tls)
            if key not in _CONTEXTS:
                missing[key] = tls
    if not missing:
        return
    built = await asyncio.to_thread(_build_all, missing)
    for key, context in built.items():
        _CONTEXTS.setdefault(key, context)


def _build_all(missing: dict[_CacheKey, TlsOptions]) -> dict[_CacheKey, ssl.SSLContext]:
    built: dict[_CacheKey, ssl.SSLContext] = {}
    for key, tls in missing.items():
        try:
            built[key] = _build(tls)
        except (OSError, ssl.SSLError):
            continue
    return built


def _build(tls: TlsOptions) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if tls.ca_bundle is not None:
        context.load_verify_locations(cafile=str(tls.ca_bundle))
    return context


def _key(tls: TlsOptions) -> _CacheKey:
    if tls.ca_bundle is None:
        return (None, 0, 0)
    try:
        stat = os.stat(tls.ca_bundle)
    except OSError:
        return (str(tls.ca_bundle), -1, -1)
    return (str(tls.ca_bundle), stat.st_mtime_ns, stat.st_size)
