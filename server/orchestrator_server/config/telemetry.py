"""The `telemetry` section: the Prometheus endpoint, tracing, and usage-event sinks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl, model_validator

from orchestrator_server.config.base import EnvVarName, PositiveSeconds, Strict

ADDRESS_PATTERN = r"^(\[[0-9a-fA-F:.]+\]|[^:\[\]]+):\d{1,5}$"


class MetricsConfig(Strict):
    address: str | None = Field(
        None,
        pattern=ADDRESS_PATTERN,
        description="HOST:PORT serving GET /metrics for Prometheus; none: no endpoint",
    )


class TracingConfig(Strict):
    exporter: Literal["none", "console", "otlp"] = "none"
    endpoint: str | None = Field(
        None, description="otlp: the collector's gRPC endpoint (default http://localhost:4317)"
    )
    sample_ratio: float = Field(
        1.0, ge=0, le=1, description="share of new traces kept; a caller's sampled flag wins"
    )
    service_name: str = Field("orchestrator", min_length=1)

    @model_validator(mode="after")
    def _endpoint_only_for_otlp(self) -> TracingConfig:
        if self.endpoint is not None and self.exporter != "otlp":
            raise ValueError("endpoint is only used with exporter: otlp")
        return self


class WebhookConfig(Strict):
    url: HttpUrl
    headers_env: dict[str, EnvVarName] = Field(
        default_factory=dict, description="header name -> env var holding its value (a token)"
    )
    queue_size: int = Field(10_000, ge=1, description="events waiting; beyond it they are dropped")
    batch_size: int = Field(100, ge=1, le=10_000)
    retries: int = Field(3, ge=0, le=20)
    timeout: PositiveSeconds = Field(5.0, description="per POST")
    backoff: PositiveSeconds = Field(0.5, description="first retry delay; doubles each retry")
    flush_timeout: PositiveSeconds = Field(5.0, description="on shutdown, for queued events")


class UsageConfig(Strict):
    webhook: WebhookConfig | None = None


class TelemetryConfig(Strict):
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)  # type: ignore[arg-type]
    tracing: TracingConfig = Field(default_factory=TracingConfig)  # type: ignore[arg-type]
    usage: UsageConfig = Field(default_factory=UsageConfig)
