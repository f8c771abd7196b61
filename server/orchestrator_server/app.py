"""Builds and runs the grpc.aio server: services, health, reflection, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from orchestrator.v1 import orchestrator_service_pb2, orchestrator_service_pb2_grpc
from orchestrator_server.api.health import SERVING, HealthService
from orchestrator_server.api.servicer import OrchestratorServicer
from orchestrator_server.api.telemetry import TelemetryInterceptor
from orchestrator_server.config.models import Config
from orchestrator_server.providers.base import Provider
from orchestrator_server.providers.registry import ProviderSetupError, build_providers
from orchestrator_server.routing.router import Router
from orchestrator_server.routing.types import HealthClass
from orchestrator_server.telemetry.setup import Telemetry, TelemetrySetupError
from orchestrator_server.telemetry.tracing import TracingSetupError

log = logging.getLogger(__name__)

SERVICE_NAME: str = orchestrator_service_pb2.DESCRIPTOR.services_by_name[
    "OrchestratorService"
].full_name


class StartupError(Exception):
    pass


class App:
    """One server with its router and providers. `start`, then `stop` (idempotent)."""

    def __init__(
        self,
        config: Config,
        *,
        address: str | None = None,
        providers: Sequence[Provider] | None = None,
        telemetry: Telemetry | None = None,
        metrics_address: str | None = None,
    ) -> None:
        """`telemetry` replaces the one built from config (in-process usage hooks, a span
        exporter); `metrics_address` overrides telemetry.metrics.address."""
        self.config = config
        self.address = address or config.server.address
        try:
            built = providers if providers is not None else build_providers(config.providers)
            self.telemetry = telemetry or Telemetry(config, metrics_address=metrics_address)
        except (ProviderSetupError, TelemetrySetupError, TracingSetupError) as exc:
            raise StartupError(str(exc)) from None
        self.providers = list(built)
        self.router = Router(
            self.providers, config.router, config.aliases, observer=self.telemetry.observer
        )
        self.telemetry.set_health_source(self._health)
        self.telemetry.retain_providers([p.spec.name for p in self.providers])
        self.health = HealthService()
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._stopping: asyncio.Task[None] | None = None

    def _health(self) -> list[tuple[str, HealthClass]]:
        return [(s.name, s.health) for s in self.router.snapshot()]

    async def start(self) -> int:
        limits = self.config.server.limits
        telemetry = self.telemetry
        try:
            await telemetry.start()
        except TelemetrySetupError as exc:
            raise StartupError(str(exc)) from None
        interceptors: list[grpc.aio.ServerInterceptor] = []
        if telemetry.metrics is not None or telemetry.server_spans is not None:
            interceptors.append(TelemetryInterceptor(telemetry.metrics, telemetry.server_spans))
        server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", limits.max_message_bytes),
                ("grpc.max_send_message_length", limits.max_message_bytes),
                ("grpc.so_reuseport", 0),
                # Let clients keep idle connections alive through proxies without being
                # punished with GOAWAY (too_many_pings) when they ping every 10 s or more.
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.keepalive_permit_without_calls", 1),
            ],
            maximum_concurrent_rpcs=limits.max_concurrent_rpcs,
        )
        orchestrator_service_pb2_grpc.add_OrchestratorServiceServicer_to_server(  # type: ignore[no-untyped-call]
            OrchestratorServicer(self.router, limits), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        if self.config.server.reflection:
            names = (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME)
            reflection.enable_server_reflection(names, server)
        try:
            port = server.add_insecure_port(self.address)
        except RuntimeError as exc:
            port, reason = 0, f": {exc}"
        else:
            reason = ""
        if port == 0:
            await telemetry.stop()
            raise StartupError(f"cannot listen on {self.address}{reason}")
        await server.start()
        self._server, self.port = server, port
        for name in ("", SERVICE_NAME):
            await self.health.set(name, SERVING)
        return port

    async def stop(self, grace: float | None = None) -> None:
        """Health turns NOT_SERVING, new calls are refused, calls in flight get `grace`
        seconds to finish (then are cancelled), and provider sessions are closed."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop(grace))
        await asyncio.shield(self._stopping)

    async def _stop(self, grace: float | None) -> None:
        grace = self.config.server.grace_period if grace is None else grace
        await self.health.drain()
        if self._server is not None:
            await self._server.stop(grace)
        await self.router.aclose()
        await self.telemetry.stop()

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


async def serve(
    config: Config, *, address: str | None = None, metrics_address: str | None = None
) -> None:
    """Runs until SIGTERM or SIGINT, then shuts down gracefully."""
    # Raises StartupError for a missing key or a port in use.
    app = App(config, address=address, metrics_address=metrics_address)
    await app.start()
    log.info(
        "orchestrator listening on %s (port %d); providers: %s; strategy: %s",
        app.address,
        app.port,
        ", ".join(p.spec.name for p in app.providers),
        app.router.strategy,
    )
    if app.telemetry.metrics_address is not None:
        log.info(
            "metrics on http://%s/metrics (port %d)",
            app.telemetry.metrics_address,
            app.telemetry.metrics_port,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info(
        "shutting down: refusing new calls, in-flight calls get %.1f s",
        config.server.grace_period,
    )
    await app.stop()
    log.info("stopped")
