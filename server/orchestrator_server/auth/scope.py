"""What a caller key may use, from its `models` patterns:

- `*`: everything;
- `provider/model`, with `*` and `?` wildcards (`openai/*`, `pa/gpt-4o`, `*/gpt-4o-mini`):
  those models of those providers, however the request names them;
- anything else is an alias name (wildcards allowed): the alias, whatever its targets.

A request is allowed when the key allows the alias it names, or every (provider, model) it
may reach. Refusals say what was refused (alias, provider or model): the status's reason.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from fnmatch import translate

from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.errors import (
    AliasNotAllowed,
    ModelNotAllowed,
    NotFound,
    PermissionDenied,
    ProviderNotAllowed,
)

Target = tuple[str, str]  # (provider name, model name)


def _matcher(globs: Sequence[str]) -> Callable[[str], object]:
    """One compiled regex for a set of fnmatch globs (case-sensitive)."""
    if not globs:
        return lambda _name: None
    return re.compile("|".join(translate(g) for g in globs)).match


class Scope:
    """A key's patterns, compiled once (scope_of caches them per pattern tuple)."""

    __slots__ = ("_alias", "_provider", "_target", "everything")

    def __init__(self, patterns: Sequence[str]) -> None:
        self.everything = "*" in patterns
        targets = [p for p in patterns if "/" in p]
        self._alias = _matcher([p for p in patterns if "/" not in p])
        self._target = _matcher(targets)
        self._provider = _matcher([p.partition("/")[0] for p in targets])

    def alias(self, name: str) -> bool:
        return self.everything or self._alias(name) is not None

    def target(self, provider: str, model: str) -> bool:
        return self.everything or self._target(f"{provider}/{model}") is not None

    def provider(self, name: str) -> bool:
        """Whether any pattern reaches a model of this provider."""
        return self.everything or self._provider(name) is not None


@functools.lru_cache(maxsize=1024)
def scope_of(patterns: tuple[str, ...]) -> Scope:
    return Scope(patterns)


def authorize_route(
    caller: Caller,
    *,
    model: str,
    provider: str,
    targets: Callable[[], Sequence[Target]],
    aliases: Collection[str],
) -> None:
    """Raises a PermissionDenied unless `caller` may make a request naming `model` and
    `provider` (as a Generate request does), which can reach `targets()` (resolved only for
    a restricted key; it raises as routing would, e.g. NotFound, whose list of what exists is
    left out)."""
    if caller.unrestricted:
        return
    scope = scope_of(caller.models)
    if model in aliases and scope.alias(model):
        return
    if provider and not scope.provider(provider):
        raise provider_refused(caller, provider)
    try:
        reached = targets()
    except NotFound as exc:
        # What exists, listed for a key that may use everything, is more than this one may
        # see (ListModels shows it its own share).
        raise exc.unlisted() from None
    refused = next(((p, m) for p, m in reached if not scope.target(p, m)), None)
    if refused is None:
        return
    raise _refusal(caller, model, provider, refused, scope, aliases)


def _refusal(
    caller: Caller,
    model: str,
    provider: str,
    refused: Target,
    scope: Scope,
    aliases: Collection[str],
) -> PermissionDenied:
    key = caller.key_id
    if model in aliases:
        return AliasNotAllowed(f"key {key} may not use alias {model!r}")
    if not model and not provider:
        return ModelNotAllowed(
            f"key {key} may not use every provider's default model: name one in `model`"
        )
    name, served = refused
    if not scope.provider(name):
        return provider_refused(caller, name)
    return ModelNotAllowed(f"key {key} may not use model {name}/{served}")


def visible_providers(
    caller: Caller, names: Sequence[str], aliases: Mapping[str, Sequence[str]]
) -> list[str]:
    """The providers among `names` the caller may reach (directly or through an alias it
    may use), for GetMetrics, ListProviders and ListModels."""
    if caller.unrestricted:
        return list(names)
    scope = scope_of(caller.models)
    through_aliases = {
        target.partition("/")[0]
        for alias, targets in aliases.items()
        if scope.alias(alias)
        for target in targets
    }
    return [n for n in names if scope.provider(n) or n in through_aliases]


def provider_refused(caller: Caller, name: str) -> ProviderNotAllowed:
    return ProviderNotAllowed(f"key {caller.key_id} may not use provider {name!r}")


def may_use_model(caller: Caller, provider: str, model: str) -> bool:
    return caller.unrestricted or scope_of(caller.models).target(provider, model)


def may_use_alias(caller: Caller, alias: str, targets: Sequence[Target]) -> bool:
    """An alias is usable when the key names it, or allows every target it resolves to."""
    if caller.unrestricted:
        return True
    scope = scope_of(caller.models)
    return scope.alias(alias) or all(scope.target(p, m) for p, m in targets)
