"""Builds the telemetry a config asks for, and starts and stops it with the server.

`observer` goes to the Router; `metrics` and `server_spans` to the error border
(api/border.py). With the defaults (no metrics address, tracing exporter none, no usage
sinks) the only observer is the attempt logger, and the border reports no RPC timings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping, Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from orchestrator_server import __version__
from orchestrator_server.config.models import Config
from orchestrator_server.providers.http.client import HeadersHook
from orchestrator_server.routing.observer import NO_OBSERVER, AttemptObserver, AttemptRecord
from orchestrator_server.telemetry.logs import AttemptLogger
from orchestrator_server.telemetry.metrics import GatewayMetrics, HealthSource
from orchestrator_server.telemetry.prometheus import PrometheusEndpoint
from orchestrator_server.telemetry.tracing import (
    ServerSpans,
    TracingObserver,
    build_tracer_provider,
    trace_headers,
    tracer_of,
)
from orchestrator_server.telemetry.usage import SinkWorker, UsageHook, UsageObserver, hook_delivery
from orchestrator_server.telemetry.webhook import Webhook

log = logging.getLogger(__name__)


class TelemetrySetupError(Exception):
    pass


class FanOut:
    """Several observers as one; one that raises is logged and does not stop the others."""

    __slots__ = ("_observers",)

    def __init__(self, observers: Sequence[AttemptObserver]) -> None:
        self._observers = tuple(observers)

    def attempt_started(self, record: AttemptRecord) -> None:
        for observer in self._observers:
            try:
                observer.attempt_started(record)
            except Exception:
                log.exception("telemetry observer %s failed", type(observer).__name__)

    def attempt_ended(self, record: AttemptRecord) -> None:
        for observer in self._observers:
            try:
                observer.attempt_ended(record)
            except Exception:
                log.exception("telemetry observer %s failed", type(observer).__name__)


class Telemetry:
    def __init__(
        self,
        config: Config,
        *,
        metrics_address: str | None = None,
        span_exporter: SpanExporter | None = None,
        usage_hooks: Sequence[UsageHook] = (),
    ) -> None:
        """`metrics_address` overrides telemetry.metrics.address ("off" disables it);
        `span_exporter` turns tracing on with that exporter (tests, embedding);
        `usage_hooks` are in-process callables that get every UsageEvent."""
        settings = config.telemetry
        address = settings.metrics.address if metrics_address is None else metrics_address
        self.metrics_address = None if address in ("", "off") else address
        resource = Resource.create(
            {"service.name": settings.tracing.service_name, "service.version": __version__}
        )
        self.metrics: GatewayMetrics | None = None
        self.endpoint: PrometheusEndpoint | None = None
        if self.metrics_address is not None:
            self.metrics = GatewayMetrics()
            self.endpoint = PrometheusEndpoint(
                self.metrics.collect, resource, prepare=self.metrics.prepare
            )
        self.tracer_provider: TracerProvider | None = build_tracer_provider(
            settings.tracing, resource, span_exporter
        )
        self.dropped_events = 0
        self._webhook: Webhook | None = None
        self.sinks = self._sinks(config, usage_hooks)

        observers: list[AttemptObserver] = []
        if self.metrics is not None:
            observers.append(self.metrics)
        self.server_spans: ServerSpans | None = None
        # For the HTTP clients of providers: the current trace context on their requests.
        self.context_headers: HeadersHook | None = None
        if self.tracer_provider is not None:
            tracer = tracer_of(self.tracer_provider)
            observers.append(TracingObserver(tracer))
            self.server_spans = ServerSpans(tracer)
            self.context_headers = trace_headers
        if self.sinks:
            observers.append(UsageObserver(self.sinks))
        observers.append(
            AttemptLogger(
                include_prompts=config.logging.include_prompts,
                failure_level=logging.getLevelName(config.logging.failed_attempts),
            )
        )
        self.observer: AttemptObserver = FanOut(observers) if observers else NO_OBSERVER

    def _sinks(self, config: Config, hooks: Sequence[UsageHook]) -> list[SinkWorker]:
        sinks = [
            SinkWorker(f"hook{i}", hook_delivery(h), self._dropped) for i, h in enumerate(hooks)
        ]
        webhook = config.telemetry.usage.webhook
        if webhook is not None:
            try:
                self._webhook = Webhook(webhook)
            except Exception as exc:
                raise TelemetrySetupError(str(exc)) from None
            sinks.append(
                SinkWorker(
                    "webhook",
                    self._webhook.deliver,
                    self._dropped,
                    queue_size=webhook.queue_size,
                    batch_size=webhook.batch_size,
                    retries=webhook.retries,
                    backoff=webhook.backoff,
                    flush_timeout=webhook.flush_timeout,
                )
            )
        return sinks

    def _dropped(self, sink: str, reason: str, count: int) -> None:
        self.dropped_events += count
        if self.metrics is not None:
            self.metrics.usage_dropped(sink, reason, count)

    def set_health_source(self, source: HealthSource) -> None:
        if self.metrics is not None:
            self.metrics.health = source

    def set_reload_source(self, source: Callable[[], Mapping[str, int]]) -> None:
        if self.metrics is not None:
            self.metrics.reloads = source

    def set_auth_source(self, source: Callable[[], Mapping[str, int]]) -> None:
        """Refused calls by reason (api_key_missing, model_not_allowed, ...)."""
        if self.metrics is not None:
            self.metrics.auth_failures = source

    def label_aliases(self, aliases: Mapping[str, Sequence[str]]) -> None:
        """Alias targets whose models may be metric label values (see GatewayMetrics)."""
        if self.metrics is not None:
            self.metrics.label_aliases(aliases)

    def retain_providers(self, names: Collection[str]) -> None:
        """Drops the metric series of every provider not in `names` (see GatewayMetrics)."""
        if self.metrics is not None:
            self.metrics.retain_providers(names)

    async def start(self) -> None:
        if self.endpoint is not None and self.metrics_address is not None:
            try:
                await self.endpoint.start(self.metrics_address)
            except OSError as exc:
                raise TelemetrySetupError(
                    f"cannot serve metrics on {self.metrics_address}: {exc.strerror or exc} "
                    "(set telemetry.metrics.address or --metrics-address; 'off' disables it)"
                ) from None
        for sink in self.sinks:
            sink.start()

    async def stop(self) -> None:
        """Flushes usage events (bounded), closes the endpoint, exports pending spans."""
        await asyncio.gather(*(sink.stop() for sink in self.sinks))
        if self._webhook is not None:
            await self._webhook.aclose()
        if self.endpoint is not None:
            await self.endpoint.stop()
        if self.tracer_provider is not None:
            # A batch exporter may block on a slow collector: not on the event loop.
            await asyncio.to_thread(self.tracer_provider.shutdown)

    @property
    def metrics_port(self) -> int:
        return self.endpoint.port if self.endpoint is not None else 0
