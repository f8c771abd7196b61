"""What `serve` would refuse (or quietly do without) in this environment, found without
starting it: unset key and token variables (providers', callers', the admin token), TLS
files that do not load, missing indexes. `check-config` reports these, so that it never says
OK to a configuration `serve` then refuses. Each check is the one `serve` makes."""

from __future__ import annotations

import os
from dataclasses import dataclass

from orchestrator_server.api.tls import ServerTls, TlsSetupError
from orchestrator_server.auth.keys import KeySetupError, KeyTable
from orchestrator_server.config.models import Config
from orchestrator_server.config.providers import HttpProviderBase
from orchestrator_server.providers.registry import missing_key_problem
from orchestrator_server.retrieval.collections import build_hint, resolve_path
from orchestrator_server.retrieval.manifest import MANIFEST_FILE


@dataclass(frozen=True, slots=True)
class Finding:
    problem: str  # starts with the key path
    fatal: bool  # serve does not start


def preflight(config: Config, config_path: str | None = None) -> list[Finding]:
    return [
        *_provider_keys(config),
        *_token_variables(config),
        *_caller_keys(config),
        *_tls_files(config),
        *_indexes(config, config_path),
    ]


def _provider_keys(config: Config) -> list[Finding]:
    found: list[Finding] = []
    serving = 0
    for i, p in enumerate(config.providers):
        problem = missing_key_problem(p, f"providers[{i}]") if p.enabled else None
        if problem is None:
            serving += p.enabled
            continue
        assert isinstance(p, HttpProviderBase)
        if p.on_missing_key == "disable":
            found.append(Finding(f"{problem}: {p.name} starts disabled (on_missing_key)", False))
        else:
            hint = "set it, or on_missing_key: disable to start without this provider"
            found.append(Finding(f"{problem} ({hint})", True))
    if serving == 0 and not any(f.fatal for f in found):
        found.append(Finding("providers: no provider would serve in this environment", False))
    return found


def _token_variables(config: Config) -> list[Finding]:
    names: list[tuple[str, str]] = []
    admin = config.reload.admin
    if admin.enabled and admin.token_env is not None:
        names.append(("reload.admin.token_env", admin.token_env))
    webhook = config.telemetry.usage.webhook
    if webhook is not None:
        names += [
            (f"telemetry.usage.webhook.headers_env.{header}", env)
            for header, env in webhook.headers_env.items()
        ]
    return [
        Finding(f"{where}: environment variable {env} is not set", True)
        for where, env in names
        if not os.environ.get(env)
    ]


def _caller_keys(config: Config) -> list[Finding]:
    if config.auth is None:
        return []
    try:
        KeyTable.from_config(config.auth)
    except KeySetupError as exc:
        return [Finding(str(exc), True)]
    return []


def _tls_files(config: Config) -> list[Finding]:
    if config.server.tls is None:
        return []
    try:
        ServerTls(config.server.tls)
    except TlsSetupError as exc:
        return [Finding(f"server.tls: {exc}", True)]
    return []


def _indexes(config: Config, config_path: str | None) -> list[Finding]:
    found: list[Finding] = []
    for i, c in enumerate(config.retrieval.collections):
        folder = resolve_path(c.path)
        if (folder / MANIFEST_FILE).is_file():
            continue
        problem = (
            f"retrieval.collections[{i}].path: no index at {folder}; "
            f"{build_hint(c.name, config_path)}"
        )
        if not c.required:
            problem += " (required: false, so it starts unavailable)"
        found.append(Finding(problem, c.required))
    return found
