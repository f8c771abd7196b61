"""The Prometheus endpoint: OpenTelemetry's Prometheus exporter behind `GET /metrics`, served
by aiohttp on the server's own event loop (port 0 works in tests).

A scrape is rendered in a worker thread, so a large one does not stall calls in flight:
first, on the loop, `prepare` reads the sources that are safe to read only there (the
router's health); then the thread reads the gateway's series (plain dicts the request path
writes, copied atomically under the GIL, see telemetry/metrics.py) and renders the text."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from orchestrator_server import __version__
from orchestrator_server.listeners import start_site

log = logging.getLogger(__name__)

SCOPE = InstrumentationScope("orchestrator", __version__)


class _Reader(PrometheusMetricReader):
    """Adds the gateway's own series (see telemetry/series.py for why they are not SDK
    instruments) to what the SDK collected, through the hook the SDK leaves for readers."""

    def __init__(
        self, produce: Callable[[], Sequence[Metric]], registry: CollectorRegistry
    ) -> None:
        super().__init__(registry=registry, scope_info_enabled=False)
        self._produce = produce
        self.resource = Resource.get_empty()

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        ours = ScopeMetrics(SCOPE, list(self._produce()), "")
        resources = list(metrics_data.resource_metrics) if metrics_data is not None else []
        if resources:
            first = resources[0]
            resources[0] = ResourceMetrics(
                first.resource, [*first.scope_metrics, ours], first.schema_url
            )
        else:
            resources = [ResourceMetrics(self.resource, [ours], "")]
        super()._receive_metrics(MetricsData(resources), timeout_millis, **kwargs)


class PrometheusEndpoint:
    """`start(address)` serves GET /metrics; `stop()` closes it and the meter provider."""

    def __init__(
        self,
        produce: Callable[[], Sequence[Metric]],
        resource: Resource,
        prepare: Callable[[], None] | None = None,
    ) -> None:
        """`produce` runs in the render thread; `prepare`, if given, on the loop before it."""
        self.registry = CollectorRegistry(auto_describe=False)
        self._reader = _Reader(produce, self.registry)
        self._reader.resource = resource
        # SDK instruments made from `meter` (by an extension) are exported alongside.
        self.meter_provider = MeterProvider(metric_readers=[self._reader], resource=resource)
        self.meter = self.meter_provider.get_meter(SCOPE.name, SCOPE.version)
        started = time.monotonic()
        # Always one point, so the SDK always hands the reader a collection to add ours to.
        self.meter.create_observable_gauge(
            "orchestrator.uptime",
            [lambda _: [Observation(time.monotonic() - started)]],
            unit="s",
            description="Seconds since the server started",
        )
        self._runner: web.AppRunner | None = None
        self._rendering = asyncio.Lock()  # the reader keeps state between collect and render
        self._prepare = prepare
        self.port = 0

    def render(self) -> bytes:
        """The exposition text, read now (on the calling thread)."""
        return generate_latest(self.registry)

    async def render_off_loop(self) -> bytes:
        """The exposition text, rendered in a worker thread (one render at a time)."""
        async with self._rendering:
            if self._prepare is not None:
                self._prepare()
            return await asyncio.to_thread(generate_latest, self.registry)

    async def start(self, address: str) -> int:
        """`address` is HOST:PORT, or a worker's private `unix:PATH` (see listeners.py)."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            self.port = await start_site(runner, address)
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        return self.port

    async def _metrics(self, request: web.Request) -> web.Response:
        body = await self.render_off_loop()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.meter_provider.shutdown()
