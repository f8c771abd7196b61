"""The `auth:` section: the keys callers present, and the server's TLS settings.

A caller key is never written here: an entry holds its SHA-256 (`key_sha256`, what
`orchestrator keys new` prints) or names the environment variable that holds it
(`key_env`, e.g. filled from a Kubernetes Secret)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from orchestrator_server.config.base import EnvVarName, Strict

KeyId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
TenantName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
# "*", "provider/model" with * and ? wildcards ("openai/*", "pa/gpt-4o"), or an alias name.
ModelPattern = Annotated[str, Field(pattern=r"^[^\s]{1,256}$")]

# Sections that per-key limits and budgets (and tenants sharing them) will fill; until they
# exist, naming them is an error that says so rather than a setting silently ignored.
_NOT_YET = {
    "limits": "per-key limits are not available yet",
    "budget": "per-key budgets are not available yet",
}


class CallerKeyConfig(Strict):
    id: KeyId = Field(description="names the key in usage events, logs, metrics and traces")
    tenant: TenantName = Field(description="who the key's usage is attributed to")
    key_sha256: str | None = Field(
        None, pattern=r"^[0-9a-fA-F]{64}$", description="hex SHA-256 of the key"
    )
    key_env: EnvVarName | None = Field(None, description="variable holding the key itself")
    models: list[ModelPattern] = Field(
        min_length=1,
        description='what the key may use: "*", "provider/*", "provider/model", an alias',
    )
    expires_at: datetime.datetime | None = Field(
        None, description="from then on the key is refused (UNAUTHENTICATED); with a time zone"
    )

    @model_validator(mode="before")
    @classmethod
    def _reserved(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, why in _NOT_YET.items():
                if name in data:
                    raise ValueError(f"{name}: {why} (see docs/security.md)")
        return data

    @field_validator("expires_at", mode="before")
    @classmethod
    def _date_is_midnight_utc(cls, value: Any) -> Any:
        if isinstance(value, str) and len(value) == 10:
            try:
                value = datetime.date.fromisoformat(value)
            except ValueError:
                return value
        if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            return datetime.datetime.combine(value, datetime.time(), tzinfo=datetime.UTC)
        return value

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime.datetime | None) -> datetime.datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("give a time zone, e.g. 2027-01-31T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> CallerKeyConfig:
        if (self.key_sha256 is None) == (self.key_env is None):
            raise ValueError("give exactly one of key_sha256 and key_env")
        return self


class AuthConfig(Strict):
    keys: list[CallerKeyConfig] = Field(
        min_length=1, description="without any, remove the section (the gateway is then open)"
    )

    @model_validator(mode="before")
    @classmethod
    def _reserved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "tenants" in data:
            raise ValueError("tenants: tenant limits and budgets are not available yet")
        return data

    @field_validator("keys")
    @classmethod
    def _unique(cls, keys: list[CallerKeyConfig]) -> list[CallerKeyConfig]:
        ids: set[str] = set()
        digests: set[str] = set()
        for i, key in enumerate(keys):
            if key.id in ids:
                raise ValueError(f"[{i}].id: {key.id!r} is used twice")
            ids.add(key.id)
            if key.key_sha256 is not None:
                digest = key.key_sha256.lower()
                if digest in digests:
                    raise ValueError(f"[{i}].key_sha256: the same key is listed twice")
                digests.add(digest)
        return keys


class TlsConfig(Strict):
    """TLS on the gRPC port; with `client_ca_file`, mutual TLS. Files are PEM and are read
    again on every reload (a renewed certificate needs no restart)."""

    cert_file: Path = Field(description="the server's certificate chain")
    key_file: Path = Field(description="its private key")
    client_ca_file: Path | None = Field(
        None, description="CA certificates client certificates must be signed by (mTLS)"
    )
