"""The auth package without a server: key lookup, expiry, patterns, the config schema."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator_server.auth.admin import AdminToken
from orchestrator_server.auth.keys import KeySetupError, KeyTable
from orchestrator_server.auth.newkey import key_entry, new_key
from orchestrator_server.auth.scope import authorize_route, scope_of, visible_providers
from orchestrator_server.config.auth import AuthConfig
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.errors import (
    AliasNotAllowed,
    ApiKeyExpired,
    ApiKeyInvalid,
    ApiKeyMissing,
    ModelNotAllowed,
    ProviderNotAllowed,
)

NOW = datetime.datetime(2026, 11, 21, tzinfo=datetime.UTC)


def entry(key: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "k1",
        "tenant": "acme",
        "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
        "models": ["*"],
        **fields,
    }


def table(*entries: dict[str, Any]) -> KeyTable:
    return KeyTable.from_config(AuthConfig.model_validate({"keys": list(entries)}))


def test_a_key_authenticates_as_its_entry() -> None:
    caller = table(entry("secret-key-0123456789")).authenticate("secret-key-0123456789", NOW)
    assert caller == Caller("k1", "acme", authenticated=True, models=("*",))


@pytest.mark.parametrize(
    ("presented", "error"), [(None, ApiKeyMissing), ("", ApiKeyMissing), ("other", ApiKeyInvalid)]
)
def test_missing_and_unknown_keys(presented: str | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        table(entry("secret-key-0123456789")).authenticate(presented, NOW)


def test_expiry_is_exact_to_the_second() -> None:
    keys = table(entry("secret-key-0123456789", expires_at="2026-11-21T00:00:01Z"))
    assert keys.authenticate("secret-key-0123456789", NOW).key_id == "k1"
    with pytest.raises(ApiKeyExpired):
        keys.authenticate("secret-key-0123456789", NOW + datetime.timedelta(seconds=1))


def test_a_date_expires_at_midnight_utc() -> None:
    config = AuthConfig.model_validate({"keys": [entry("k", expires_at="2027-01-31")]})
    assert config.keys[0].expires_at == datetime.datetime(2027, 1, 31, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"expires_at": "2027-01-31T00:00:00"}, "give a time zone"),
        ({"key_env": "K"}, "exactly one of key_sha256 and key_env"),
        ({"key_sha256": None}, "exactly one of key_sha256 and key_env"),
        ({"key_sha256": "abc"}, "String should match pattern"),
        ({"models": []}, "at least 1 item"),
        ({"limits": {"rpm": 10}}, "per-key limits are not available yet"),
        ({"budget": {"usd": 10}}, "per-key budgets are not available yet"),
    ],
)
def test_schema_problems(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        AuthConfig.model_validate({"keys": [entry("k", **fields)]})


def test_ids_and_keys_are_unique_and_tenants_are_reserved() -> None:
    with pytest.raises(ValidationError, match="used twice"):
        AuthConfig.model_validate({"keys": [entry("a"), {**entry("b"), "id": "k1"}]})
    with pytest.raises(ValidationError, match="the same key is listed twice"):
        AuthConfig.model_validate({"keys": [entry("a"), {**entry("a"), "id": "k2"}]})
    with pytest.raises(ValidationError, match="tenants"):
        AuthConfig.model_validate({"keys": [entry("a")], "tenants": []})


def test_key_env_is_read_registered_and_must_look_like_a_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env_entry = {"id": "e", "tenant": "t", "key_env": "ORCH_UNIT_KEY", "models": ["*"]}
    monkeypatch.setenv("ORCH_UNIT_KEY", "short")
    with pytest.raises(KeySetupError, match="fewer than 20"):
        table(env_entry)
    monkeypatch.setenv("ORCH_UNIT_KEY", "a-long-enough-key-0123456789")
    assert table(env_entry).authenticate("a-long-enough-key-0123456789", NOW).key_id == "e"
    monkeypatch.setenv("ORCH_UNIT_KEY", "secret-key-0123456789")
    with pytest.raises(KeySetupError, match="are the same key"):
        table(entry("secret-key-0123456789"), env_entry)


def test_new_keys_are_unique_and_their_entries_parse() -> None:
    first, second = new_key(), new_key()
    assert first != second
    assert first.startswith("orch_")
    assert len(first) >= 40
    expires = datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC)
    made = key_entry(first, key_id="ci", tenant="acme", models=["openai/*"], expires_at=expires)
    assert first not in str(made)
    keys = table(made)
    assert keys.authenticate(first, NOW) == Caller("ci", "acme", True, ("openai/*",))


def test_admin_token_matches_only_itself() -> None:
    token = AdminToken("the-admin-token")
    assert token.matches("the-admin-token")
    assert not token.matches("the-admin-toke")
    assert not token.matches(None)


# --- patterns ------------------------------------------------------------------------------

ALIASES = {"fast": ["a", "b/m2"], "team-x": ["a/m1"]}


def limited(*patterns: str) -> Caller:
    return Caller("k", "t", True, patterns)


def check(caller: Caller, model: str = "", provider: str = "", targets: Any = ()) -> None:
    authorize_route(
        caller, model=model, provider=provider, targets=lambda: list(targets), aliases=ALIASES
    )


def test_scope_patterns() -> None:
    scope = scope_of(("openai/*", "pa/gpt-4o", "team-*"))
    assert scope.target("openai", "gpt-4o-mini")
    assert scope.target("openai", "meta-llama/llama-3")  # model names may hold a slash
    assert scope.target("pa", "gpt-4o")
    assert not scope.target("pa", "gpt-4o-mini")
    assert scope.alias("team-x")
    assert not scope.alias("fast")
    assert scope.provider("openai")
    assert not scope.provider("azure")


def test_unrestricted_keys_skip_resolution() -> None:
    def never() -> list[tuple[str, str]]:
        raise AssertionError("resolved")

    authorize_route(Caller(), model="x", provider="", targets=never, aliases={})
    authorize_route(limited("*"), model="x", provider="", targets=never, aliases={})


@pytest.mark.parametrize(
    ("caller", "model", "provider", "targets", "error"),
    [
        (limited("a/*"), "a/m1", "", [("a", "m1")], None),
        (limited("a/m1"), "a/m2", "", [("a", "m2")], ModelNotAllowed),
        (limited("a/*"), "b/m2", "", [("b", "m2")], ProviderNotAllowed),
        (limited("a/*"), "", "b", [("b", "m1")], ProviderNotAllowed),
        (limited("a/*"), "", "", [("a", "m1"), ("b", "m1")], ModelNotAllowed),
        (limited("fast"), "fast", "", [("a", "m1"), ("b", "m2")], None),
        (limited("a/*", "b/*"), "fast", "", [("a", "m1"), ("b", "m2")], None),
        (limited("a/*"), "fast", "", [("a", "m1"), ("b", "m2")], AliasNotAllowed),
        (limited("fast"), "fast", "a", [("a", "m1")], None),  # pinned within the alias
    ],
)
def test_route_authorization(
    caller: Caller, model: str, provider: str, targets: Any, error: type[Exception] | None
) -> None:
    if error is None:
        check(caller, model, provider, targets)
    else:
        with pytest.raises(error):
            check(caller, model, provider, targets)


def test_visible_providers_include_those_reached_through_an_allowed_alias() -> None:
    assert visible_providers(limited("team-x"), ["a", "b"], ALIASES) == ["a"]
    assert visible_providers(limited("b/*"), ["a", "b"], ALIASES) == ["b"]
    assert visible_providers(Caller(), ["a", "b"], ALIASES) == ["a", "b"]
