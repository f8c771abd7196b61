"""The `state` and `cache` sections and the limit and budget entries: defaults, and refusals
that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator_server.config import ConfigError, parse_config
from orchestrator_server.config.state import (
    BudgetConfig,
    CallerLimits,
    ProviderLimits,
    RedisConfig,
)

PROVIDERS = "providers: [{name: m, kind: mock, model: m}]\n"


def test_defaults_keep_everything_in_process_and_the_cache_off() -> None:
    config = parse_config(PROVIDERS)
    assert config.state.redis is None
    assert config.state.on_error == "open"
    assert config.cache.enabled is False
    assert config.cache.cache_nonzero_temperature is False


def test_a_full_redis_section_parses() -> None:
    config = parse_config(
        PROVIDERS + "state:\n"
        "  redis: {url: 'rediss://redis.internal:6380/2', password_env: REDIS_PASSWORD,"
        " timeout: 0.05}\n"
        "  on_error: closed\n"
        "cache: {enabled: true, ttl: 60, max_entries: 50, cache_nonzero_temperature: true}\n"
    )
    redis = config.state.redis
    assert redis is not None
    assert redis.use_tls
    assert redis.password_env == "REDIS_PASSWORD"
    assert config.state.on_error == "closed"
    assert config.cache.ttl == 60


@pytest.mark.parametrize(
    ("redis", "message"),
    [
        ("{url: 'redis://:hunter2@redis:6379'}", "password_env"),
        ("{url: 'http://redis:6379'}", "scheme"),
        ("{url: 'redis://'}", "needs a host"),
        ("{url: 'rediss://redis', tls: false}", "rediss:// means TLS"),
        ("{url: 'unix:///run/redis.sock', tls: true}", "unix:// socket"),
        ("{url: 'redis://redis', timeout: 0}", "greater than 0"),
        ("{url: 'redis://redis', password_env: 'not a name'}", "pattern"),
    ],
)
def test_bad_redis_settings_name_the_key(redis: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(PROVIDERS + f"state: {{redis: {redis}}}\n")
    (problem,) = caught.value.problems
    assert problem.startswith("state.redis")
    assert message in problem


def test_a_password_in_the_url_never_reaches_the_error_text() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(PROVIDERS + "state: {redis: {url: 'redis://u:hunter2@redis'}}\n")
    assert "hunter2" not in str(caught.value)


def test_ca_file_needs_tls(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    assert RedisConfig(url="rediss://r", ca_file=ca).use_tls
    with pytest.raises(ValidationError, match="only used with TLS"):
        RedisConfig(url="redis://r", ca_file=ca)


def test_on_error_is_open_or_closed() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(PROVIDERS + "state: {on_error: maybe}\n")
    assert caught.value.problems[0].startswith("state.on_error")


def test_limit_and_budget_entries() -> None:
    assert CallerLimits.model_validate({"rpm": 30, "tpm": 10_000, "concurrency": 2}).rpm == 30
    assert ProviderLimits.model_validate({"tpm": 5}).rpm is None
    budget = BudgetConfig.model_validate({"amount": 25, "period": "day"})
    assert (budget.currency, budget.period) == ("USD", "day")
    with pytest.raises(ValidationError):
        CallerLimits.model_validate({"rpm": 0})
    with pytest.raises(ValidationError):
        ProviderLimits.model_validate({"concurrency": 3})  # not a provider limit
    with pytest.raises(ValidationError):
        BudgetConfig.model_validate({"amount": 5, "period": "week"})
    with pytest.raises(ValidationError):
        BudgetConfig.model_validate({"amount": 0})
