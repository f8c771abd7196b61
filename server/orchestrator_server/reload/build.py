"""Building a generation from a configuration: the one place a Router is made, reuse of
providers that did not change, and carrying stats over to the providers that survive."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestrator_server.auth.keys import KeyTable
from orchestrator_server.config.models import Config
from orchestrator_server.config.providers import HttpProviderBase, ProviderConfig
from orchestrator_server.providers.base import Provider
from orchestrator_server.providers.http.client import HeadersHook
from orchestrator_server.providers.http.tls import TlsOptions
from orchestrator_server.providers.http.tls import prepare as prepare_tls
from orchestrator_server.providers.registry import build_provider, skipped_for_missing_key
from orchestrator_server.reload.generation import Generation, close_providers
from orchestrator_server.routing.observer import NO_OBSERVER, AttemptObserver
from orchestrator_server.routing.router import Router

log = logging.getLogger(__name__)


def router_for(
    providers: Sequence[Provider], config: Config, observer: AttemptObserver = NO_OBSERVER
) -> Router:
    """The Router of a configuration, at start and on every reload (wire new Router
    arguments here, once)."""
    return Router(providers, config.router, config.aliases, observer=observer)


def key_table(config: Config) -> KeyTable | None:
    """The caller keys of a configuration (read from the environment now, so a reload picks
    up a rotated key). Raises KeySetupError."""
    return None if config.auth is None else KeyTable.from_config(config.auth)


def fingerprint(config: ProviderConfig) -> str:
    """A digest of everything a provider is built from: its configuration, the current value
    of its key variable and the content of its CA bundle. Equal digests: the provider object
    (and its open connections) can be kept across a reload. The key never leaves the hash."""
    digest = hashlib.sha256(config.model_dump_json().encode())
    if isinstance(config, HttpProviderBase):
        if config.api_key_env is not None:
            key = os.environ.get(config.api_key_env, "")
            digest.update(b"\0key\0" + hashlib.sha256(key.encode()).digest())
        if config.ca_bundle is not None:
            try:
                digest.update(b"\0ca\0" + config.ca_bundle.read_bytes())
            except OSError:
                digest.update(b"\0ca-unreadable\0")
    return digest.hexdigest()


@dataclass
class Changes:
    """What a new generation changes, by provider name, in configuration order."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    restart_required: list[str] = field(default_factory=list)
    metrics_preserved: bool = False

    def summary(self) -> str:
        parts = [
            f"{label} {', '.join(names)}"
            for label, names in (
                ("added", self.added),
                ("removed", self.removed),
                ("changed", self.changed),
                ("unchanged", self.unchanged),
            )
            if names
        ]
        parts.append("stats kept" if self.metrics_preserved else "stats reset")
        if self.restart_required:
            parts.append(f"needs a restart to apply: {', '.join(self.restart_required)}")
        return "; ".join(parts)


def first_generation(
    config: Config,
    providers: Sequence[Provider] | None = None,
    *,
    observer: AttemptObserver = NO_OBSERVER,
    context_headers: HeadersHook | None = None,
) -> Generation:
    """Generation 1. Raises ProviderSetupError for a provider that cannot be built and
    KeySetupError for a caller key that cannot be read. Later generations keep its observer
    and the `context_headers` hook their HTTP providers get."""
    keys = key_table(config)
    if providers is not None:
        router = router_for(providers, config, observer)
        return Generation(1, config, router, {}, keys, context_headers)
    built: list[Provider] = []
    fingerprints: dict[str, str | None] = {}
    for i, entry in enumerate(config.providers):
        where = f"providers[{i}]"
        if entry.enabled and not skipped_for_missing_key(entry, where):
            built.append(build_provider(entry, where, context_headers=context_headers))
            fingerprints[entry.name] = fingerprint(entry)
    router = router_for(built, config, observer)
    return Generation(1, config, router, fingerprints, keys, context_headers)


async def next_generation(
    old: Generation, config: Config, *, preserve_metrics: bool
) -> tuple[Generation, Changes, list[Provider]]:
    """Builds the generation that follows `old` without touching it. Returns it, what it
    changes, and the providers built for it (to close if it is never used). Raises
    KeySetupError, or ProviderSetupError after closing what it built."""
    keys = key_table(config)
    previous = {p.spec.name: p for p in old.providers}
    changes = Changes(metrics_preserved=preserve_metrics)
    # TLS contexts the new providers need, built off the loop (the calls in flight go on).
    await prepare_tls(
        TlsOptions.of(entry)
        for entry in config.providers
        if entry.enabled and isinstance(entry, HttpProviderBase)
    )
    providers: list[Provider] = []
    built: list[Provider] = []
    fingerprints: dict[str, str | None] = {}
    try:
        for i, entry in enumerate(config.providers):
            if not entry.enabled or skipped_for_missing_key(entry, f"providers[{i}]"):
                continue
            digest = fingerprint(entry)
            fingerprints[entry.name] = digest
            kept = previous.get(entry.name)
            if kept is not None and old.fingerprints.get(entry.name) == digest:
                providers.append(kept)
                changes.unchanged.append(entry.name)
                continue
            provider = build_provider(entry, f"providers[{i}]", context_headers=old.context_headers)
            built.append(provider)
            providers.append(provider)
            (changes.changed if kept is not None else changes.added).append(entry.name)
        router = router_for(providers, config, old.router.observer)
    except BaseException:
        await close_providers(built)
        raise
    names = set(fingerprints)
    changes.removed = [name for name in previous if name not in names]
    changes.restart_required = restart_required(old.config, config)
    carry_stats(old, router, changes, preserve_metrics=preserve_metrics)
    number = old.number + 1
    generation = Generation(number, config, router, fingerprints, keys, old.context_headers)
    return generation, changes, built


def carry_stats(
    old: Generation, router: Router, changes: Changes, *, preserve_metrics: bool
) -> None:
    """Surviving names keep their stats object (shared, so calls still running on the old
    generation count in it too). The circuit is kept only for an unchanged provider: a
    changed one (a rotated key, a new URL) gets a closed circuit and a fresh health window,
    since the change is usually the fix."""
    old_slots = {slot.name: slot for slot in old.router.slots}
    same_health = old.config.router.health == router.config.health
    same_breaker = old.config.router.circuit_breaker == router.config.circuit_breaker
    unchanged = set(changes.unchanged)
    for slot in router.slots:
        before = old_slots.get(slot.name)
        if before is None:
            continue
        if before.spec.model != slot.spec.model or before.spec.kind != slot.spec.kind:
            log.warning(
                "provider %s now serves %s %s (was %s %s)%s",
                slot.name,
                slot.spec.kind,
                slot.spec.model,
                before.spec.kind,
                before.spec.model,
                "; its stats so far are kept" if preserve_metrics else "",
            )
        if not preserve_metrics:
            continue
        if not same_health:
            log.warning("provider %s: router.health changed, so its stats restart", slot.name)
            continue
        slot.stats = before.stats
        if slot.name in unchanged and same_breaker:
            slot.breaker = before.breaker
        else:
            slot.stats.reset_health()


# What a reload applies: these settings (a section, or one key of a section) are read anew
# with each generation. Every other setting is read once at start, and a reload that changes
# it says so in restart_required rather than ignoring it silently. Retrieval collections are
# loaded once: swapping a FAISS index under live queries is a separate piece of work (load the
# new one, then lease it like a generation).
APPLIED_LIVE = frozenset(
    {
        "providers",
        "router",
        "aliases",
        "listing",
        "validate_key",
        "reload.preserve_metrics",
        "auth",  # each generation has its own key table (a rotated key applies at once)
    }
)


def restart_required(old: Config, new: Config) -> list[str]:
    """The settings `new` changes that only a restart applies, as `section` or
    `section.key`."""
    before, after = old.model_dump(), new.model_dump()
    changed: list[str] = []
    for section in after:
        if section in APPLIED_LIVE or before.get(section) == after[section]:
            continue
        old_section, new_section = before.get(section), after[section]
        if not isinstance(new_section, dict) or not isinstance(old_section, dict):
            changed.append(section)
            continue
        changed += [
            f"{section}.{key}"
            for key in dict.fromkeys([*old_section, *new_section])
            if old_section.get(key) != new_section.get(key)
            and f"{section}.{key}" not in APPLIED_LIVE
        ]
    return changed
