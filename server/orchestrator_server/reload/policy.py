"""What a configuration applied at run time (AdminService.ApplyConfig, ApplyProviders) may
not do, judged against the configuration file (the one the server started with, or last
re-read): send a secret of the server anywhere new.

- A provider may name a key variable only if a provider of the file names it, or the file
  lists it in `reload.admin.allowed_key_env`; and it may send that key (and, for GigaChat,
  the tokens bought with it) only where the file does: to a base URL (and auth URL) of such
  a provider, or below one of the URLs the allow-list gives it. An omitted `base_url` is
  the kind's public endpoint, which only an omitted `base_url` of the same kind matches.
- Such a provider may not weaken TLS where the key travels: `verify_ssl: false` and a
  `ca_bundle` only as a file provider with that key has them.
- The sections that hold or route other secrets (`auth`, `telemetry.usage.webhook`) and
  where ValidateKey may send callers' keys (`validate_key`) change only through the file.

Each problem starts with the key path, so the refusal names the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from orchestrator_server.config.models import Config
from orchestrator_server.config.providers import GigaChatProviderConfig, HttpProviderBase
from orchestrator_server.domain.urls import BadUrl, parse_base_url

FILE_ONLY_SECTIONS = ("auth", "validate_key")


@dataclass(frozen=True, slots=True)
class Destination:
    field: str  # "base_url" or "auth_url"
    url: str | None  # None: the kind's public endpoint
    kind: str


@dataclass(frozen=True, slots=True)
class Grant:
    """Where the file lets one key variable go, and with which TLS settings."""

    urls: tuple[Destination, ...]
    insecure_ok: bool  # a file provider with this key has verify_ssl: false
    ca_bundles: frozenset[str]  # CA bundles the file's providers with this key use


def destinations(provider: HttpProviderBase, kind: str) -> Iterator[Destination]:
    yield Destination("base_url", provider.base_url, kind)
    if isinstance(provider, GigaChatProviderConfig):
        yield Destination("auth_url", provider.auth_url, kind)


def grants(file: Config) -> dict[str, Grant]:
    found: dict[str, list[tuple[HttpProviderBase, str]]] = {}
    for provider in file.providers:
        if isinstance(provider, HttpProviderBase) and provider.api_key_env is not None:
            found.setdefault(provider.api_key_env, []).append((provider, provider.kind))
    out: dict[str, Grant] = {}
    for env, pairs in found.items():
        providers = [p for p, _ in pairs]
        urls = tuple(d for p, kind in pairs for d in destinations(p, kind))
        out[env] = Grant(
            urls,
            any(not p.verify_ssl for p in providers),
            frozenset(str(p.ca_bundle) for p in providers if p.ca_bundle is not None),
        )
    for env, allowed in file.reload.admin.allowed_key_env.items():
        extra = tuple(Destination("", url, "") for url in allowed)
        before = out.get(env)
        if before is None:
            out[env] = Grant(extra, False, frozenset())
        else:
            out[env] = Grant(before.urls + extra, before.insecure_ok, before.ca_bundles)
    return out


def runtime_problems(file: Config, new: Config, *, providers_only: bool = False) -> list[str]:
    """Why `new`, applied at run time, may not replace the running configuration; empty
    when it may. `providers_only`: the request carried only the provider list."""
    problems: list[str] = []
    allowed = grants(file)
    for i, provider in enumerate(new.providers):
        if isinstance(provider, HttpProviderBase) and provider.api_key_env is not None:
            problems += _provider_problems(f"providers[{i}]", provider, provider.kind, allowed)
    if providers_only:
        return problems
    for section in FILE_ONLY_SECTIONS:
        if getattr(file, section) != getattr(new, section):
            problems.append(f"{section}: changes only through the configuration file")
    if file.telemetry.usage.webhook != new.telemetry.usage.webhook:
        problems.append("telemetry.usage.webhook: changes only through the configuration file")
    return problems


def _provider_problems(
    where: str, provider: HttpProviderBase, kind: str, allowed: dict[str, Grant]
) -> list[str]:
    env = provider.api_key_env
    assert env is not None
    grant = allowed.get(env)
    if grant is None:
        return [
            f"{where}.api_key_env: {env} is not a key variable of the configuration file; "
            "a runtime change may use only those (or reload.admin.allowed_key_env)"
        ]
    problems = [
        f"{where}.{d.field}: may not send {env} to {_shown(d)} (the configuration file "
        "sends it elsewhere; see reload.admin.allowed_key_env)"
        for d in destinations(provider, kind)
        if not any(_covers(a, d) for a in grant.urls)
    ]
    if not provider.verify_ssl and not grant.insecure_ok:
        problems.append(f"{where}.verify_ssl: may not turn verification off for {env}")
    if provider.ca_bundle is not None and str(provider.ca_bundle) not in grant.ca_bundles:
        problems.append(f"{where}.ca_bundle: may not trust another CA for {env}")
    return problems


def _covers(allowed: Destination, wanted: Destination) -> bool:
    if allowed.url is None or wanted.url is None:
        return allowed.url is wanted.url and allowed.kind == wanted.kind
    try:
        return parse_base_url(allowed.url).covers(parse_base_url(wanted.url))
    except BadUrl:
        return allowed.url.rstrip("/") == wanted.url.rstrip("/")


def _shown(destination: Destination) -> str:
    return destination.url or f"the public {destination.kind} endpoint"
