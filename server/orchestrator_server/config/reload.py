"""Configuration of live reconfiguration (file watch, the admin service) and model listing."""

from __future__ import annotations

from pydantic import Field

from orchestrator_server.config.base import EnvVarName, PositiveSeconds, Strict


class AdminServiceConfig(Strict):
    """orchestrator.v1.AdminService: a separate service name, so a mesh can restrict it."""

    enabled: bool = Field(True, description="serve AdminService at all")
    token_env: EnvVarName | None = Field(
        None,
        description="variable holding a token AdminService calls must send as "
        "'authorization: Bearer <token>'; none: no token (restrict it in the network)",
    )


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
