"""Pydantic models of the configuration file. Unknown keys are errors, so typos surface."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from orchestrator_server.config.auth import AuthConfig, TlsConfig
from orchestrator_server.config.base import NonNegativeSeconds, PositiveSeconds, Strict
from orchestrator_server.config.providers import ProviderConfig
from orchestrator_server.config.reload import ListingConfig, ReloadConfig
from orchestrator_server.config.retrieval import RetrievalConfig
from orchestrator_server.config.state import CacheConfig, StateConfig
from orchestrator_server.config.telemetry import TelemetryConfig
from orchestrator_server.config.validate_key import ValidateKeyConfig

StrategyName = Literal[
    "round-robin",
    "random",
    "first-available",
    "best-available",
    "weighted",
    "lowest-latency",
    "cheapest",
]


class RetryConfig(Strict):
    base_delay: NonNegativeSeconds = 0.1
    max_delay: NonNegativeSeconds = 2.0
    max_retry_after: NonNegativeSeconds = Field(
        10.0, description="longest Retry-After the router waits out within one request"
    )
    failover_after: NonNegativeSeconds = Field(
        1.0, description="with another candidate left, fail over rather than wait longer than this"
    )


class HealthConfig(Strict):
    window: int = Field(100, ge=1, description="recent outcomes kept per provider")
    error_ttl: PositiveSeconds = Field(300.0, description="outcomes older than this are ignored")
    min_samples: int = Field(10, ge=1, description="below this, the error rate is not judged")
    degraded_error_rate: float = Field(0.3, ge=0, le=1)
    unhealthy_error_rate: float = Field(0.6, ge=0, le=1)
    consecutive_failures: int = Field(5, ge=1, description="this many in a row is UNHEALTHY")
    latency_window: int = Field(20, ge=1, description="recent latencies in the rolling mean")
    latency_factor: float = Field(3.0, gt=1, description="rolling/long-run ratio that degrades")
    latency_min_increase: NonNegativeSeconds = Field(
        0.05, description="and the rolling mean must exceed the long-run one by this much"
    )

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> HealthConfig:
        if self.degraded_error_rate > self.unhealthy_error_rate:
            raise ValueError("degraded_error_rate must not exceed unhealthy_error_rate")
        if self.min_samples > self.window:
            raise ValueError(
                "min_samples must not exceed window (the error rate could never count)"
            )
        return self


class CircuitBreakerConfig(Strict):
    cooldown: PositiveSeconds = Field(30.0, description="open time before a half-open probe")
    max_cooldown: PositiveSeconds = Field(300.0, description="cap after repeated failed probes")


class StructuredOutputConfig(Strict):
    on_invalid: Literal["fallback", "return"] = Field(
        "fallback",
        description="a reply that breaks the requested JSON schema or JSON mode: 'fallback' "
        "treats it as a malformed reply (retried, then the next provider); 'return' hands "
        "it to the caller unchecked",
    )


class RouterConfig(Strict):
    strategy: StrategyName = "best-available"
    fallback: bool = True
    request_timeout: PositiveSeconds = Field(
        120.0, description="budget for all attempts when the caller sets no deadline"
    )
    retry: RetryConfig = Field(default_factory=RetryConfig)  # type: ignore[arg-type]
    health: HealthConfig = Field(default_factory=HealthConfig)  # type: ignore[arg-type]
    circuit_breaker: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig)  # type: ignore[arg-type]
    structured_output: StructuredOutputConfig = Field(default_factory=StructuredOutputConfig)  # type: ignore[arg-type]


class LimitsConfig(Strict):
    max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_concurrent_rpcs: int | None = Field(1000, ge=1)
    max_messages: int = Field(256, ge=1)
    max_input_chars: int = Field(400_000, ge=1, description="all message contents together")
    max_output_tokens: int = Field(32_768, ge=1)
    max_stop_sequences: int = Field(8, ge=0)
    max_images: int = Field(64, ge=0, description="images in one request")
    max_embed_inputs: int = Field(2048, ge=1, description="texts in one Embed request")
    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1, description="bytes of one image")


class ServerConfig(Strict):
    address: str = Field("127.0.0.1:50051", pattern=r"^(\[[0-9a-fA-F:.]+\]|[^:\[\]]+):\d{1,5}$")
    grace_period: NonNegativeSeconds = Field(
        10.0, description="time in-flight calls get to finish on shutdown"
    )
    reflection: bool = True
    limits: LimitsConfig = Field(default_factory=LimitsConfig)  # type: ignore[arg-type]
    tls: TlsConfig | None = Field(None, description="none: plaintext (loopback or behind a mesh)")


class LoggingConfig(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = Field(False, alias="json")
    include_prompts: bool = Field(
        False, description="attempt log records carry the last user message (DEBUG level)"
    )
    failed_attempts: Literal["INFO", "DEBUG"] = Field(
        "INFO",
        description="the level of a failed provider call's log line (DEBUG: quiet unless asked)",
    )


class Config(Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)  # type: ignore[arg-type]
    router: RouterConfig = Field(default_factory=RouterConfig)  # type: ignore[arg-type]
    providers: list[ProviderConfig] = Field(min_length=1)
    aliases: dict[str, list[str]] = Field(
        default_factory=dict,
        description='alias -> targets, each "provider" or "provider/model"',
    )
    logging: LoggingConfig = Field(default_factory=LoggingConfig)  # type: ignore[arg-type]
    reload: ReloadConfig = Field(default_factory=ReloadConfig)  # type: ignore[arg-type]
    listing: ListingConfig = Field(default_factory=ListingConfig)  # type: ignore[arg-type]
    validate_key: ValidateKeyConfig = Field(default_factory=ValidateKeyConfig)  # type: ignore[arg-type]
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)  # type: ignore[arg-type]
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    state: StateConfig = Field(default_factory=StateConfig)  # type: ignore[arg-type]
    cache: CacheConfig = Field(default_factory=CacheConfig)  # type: ignore[arg-type]
    auth: AuthConfig | None = Field(
        None, description="caller keys; none: every caller that reaches the port may call"
    )

    @field_validator("providers")
    @classmethod
    def _unique_names(cls, providers: list[ProviderConfig]) -> list[ProviderConfig]:
        seen: set[str] = set()
        for p in providers:
            if p.name in seen:
                raise ValueError(f"provider name {p.name!r} is used twice")
            seen.add(p.name)
        return providers

    @model_validator(mode="after")
    def _aliases_resolve(self) -> Config:
        names = {p.name for p in self.providers}
        for alias, targets in self.aliases.items():
            if "/" in alias:
                raise ValueError(f"aliases.{alias}: an alias must not contain '/'")
            if not targets:
                raise ValueError(f"aliases.{alias}: needs at least one target")
            for target in targets:
                provider = target.split("/", 1)[0]
                if provider not in names:
                    raise ValueError(f"aliases.{alias}: unknown provider {provider!r}")
        return self

    @property
    def enabled_providers(self) -> list[ProviderConfig]:
        return [p for p in self.providers if p.enabled]
