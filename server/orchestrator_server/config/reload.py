"""Configuration of live reconfiguration (file watch, the admin service) and model listing."""

from __future__ import annotations

from pydantic import Field, field_validator

from orchestrator_server.config.base import EnvVarName, PositiveSeconds, Strict
from orchestrator_server.domain.urls import BadUrl, parse_base_url


class AdminServiceConfig(Strict):
    """orchestrator.v1.AdminService: served only when `token_env` names a token, which every
    call must send as 'authorization: Bearer <token>'. A separate service name, so a mesh
    can restrict it further."""

    enabled: bool = Field(True, description="false: never serve it, even with a token")
    token_env: EnvVarName | None = Field(
        None,
        description="variable holding the admin token; none: AdminService is not served",
    )
    allowed_key_env: dict[EnvVarName, list[str]] = Field(
        default_factory=dict,
        description="key variables providers applied through AdminService may name beyond "
        "the file's own, each with the base URLs it may be sent to",
    )

    @field_validator("allowed_key_env")
    @classmethod
    def _urls_parse(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for env, urls in value.items():
            if not urls:
                raise ValueError(f"{env}: give the base URLs it may be sent to")
            for i, url in enumerate(urls):
                try:
                    parse_base_url(url)
                except BadUrl as exc:
                    raise ValueError(f"{env}[{i}]: {exc}") from None
        return value


class ReloadConfig(Strict):
    watch: bool = Field(False, description="reload when the configuration file changes")
    watch_interval: PositiveSeconds = Field(
        2.0, description="how often the file is checked; a change must hold for one interval"
    )
    preserve_metrics: bool = Field(
        True, description="SIGHUP and file-watch reloads keep stats of surviving providers"
    )
    admin: AdminServiceConfig = Field(default_factory=AdminServiceConfig)  # type: ignore[arg-type]


class ListingConfig(Strict):
    """ListModels: providers' own model listings, cached."""

    ttl: PositiveSeconds = Field(300.0, description="how long a provider's listing is reused")
    error_ttl: PositiveSeconds = Field(
        15.0, description="how long a failed listing falls back to config before a new try"
    )
    timeout: PositiveSeconds = Field(10.0, description="time limit of one listing call")
