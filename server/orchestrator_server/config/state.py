"""The `state` and `cache` sections (where limits, budgets and cached replies live), and the
limit and budget entries that caller keys, tenants and providers carry."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, FilePath, field_validator, model_validator

from orchestrator_server.config.base import EnvVarName, PositiveSeconds, Strict

REDIS_SCHEMES = ("redis", "rediss", "unix")


class CallerLimits(Strict):
    """`auth.keys[].limits` and `auth.tenants[].limits`. Unset means unlimited."""

    rpm: int | None = Field(None, ge=1, description="requests in any 60-second window")
    tpm: int | None = Field(
        None, ge=1, description="tokens (prompt + completion) in any 60-second window"
    )
    concurrency: int | None = Field(None, ge=1, description="calls in flight at once")


class ProviderLimits(Strict):
    """`providers[].limits`: the quota a provider deployment grants the gateway."""

    rpm: int | None = Field(None, ge=1, description="requests in any 60-second window")
    tpm: int | None = Field(None, ge=1, description="tokens in any 60-second window")


class BudgetConfig(Strict):
    """`auth.keys[].budget` and `auth.tenants[].budget`: spend per calendar period (UTC)."""

    amount: float = Field(gt=0, description="spend allowed per period, in `currency`")
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    period: Literal["day", "month"] = "month"


class RedisConfig(Strict):
    url: str = Field(
        description="redis://host:port/db, rediss:// for TLS, unix:///path.sock; no password"
    )
    tls: bool = Field(False, description="TLS to Redis (rediss:// turns it on too)")
    ca_file: FilePath | None = Field(None, description="PEM CA certificates for TLS to Redis")
    password_env: EnvVarName | None = Field(
        None, description="name of the environment variable holding the Redis password"
    )
    timeout: PositiveSeconds = Field(
        0.1, description="per Redis call (and connect); never beyond the caller's deadline"
    )
    max_connections: int = Field(50, ge=1, description="pooled connections per process")
    key_prefix: str = Field(
        "orchestrator:", min_length=1, max_length=64, description="so gateways can share a Redis"
    )

    @field_validator("url")
    @classmethod
    def _url_without_secret(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in REDIS_SCHEMES:
            raise ValueError(f"the scheme must be one of {', '.join(REDIS_SCHEMES)}")
        if parts.password is not None:
            raise ValueError("put the password in the variable named by password_env, not here")
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("needs a host, e.g. redis://redis:6379/0")
        return url

    @model_validator(mode="after")
    def _tls_consistent(self) -> RedisConfig:
        if "tls" in self.model_fields_set and not self.tls and self.url.startswith("rediss:"):
            raise ValueError("rediss:// means TLS; drop `tls: false` or use redis://")
        if self.use_tls and self.url.startswith("unix:"):
            raise ValueError("TLS does not apply to a unix:// socket")
        if self.ca_file is not None and not self.use_tls:
            raise ValueError("ca_file is only used with TLS (tls: true or rediss://)")
        return self

    @property
    def use_tls(self) -> bool:
        return self.tls or self.url.startswith("rediss:")


class StateConfig(Strict):
    redis: RedisConfig | None = Field(
        None, description="none: limits and cache live in this process (one replica)"
    )
    on_error: Literal["open", "closed"] = Field(
        "open",
        description="Redis unreachable: open serves and counts the skipped checks, "
        "closed refuses calls that have limits (UNAVAILABLE)",
    )
    default_max_tokens: int = Field(
        1024, ge=1, description="completion tokens a call reserves when it sets no max_tokens"
    )


class CacheConfig(Strict):
    enabled: bool = False
    ttl: PositiveSeconds = Field(600.0, description="seconds a cached reply is served")
    max_entries: int = Field(1000, ge=1, description="in-process cache size (LRU)")
    cache_nonzero_temperature: bool = Field(
        False, description="also cache requests that set temperature > 0"
    )
