"""Builds and runs the grpc.aio server: services, health, reflection, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from orchestrator.v1 import admin_pb2_grpc, orchestrator_service_pb2, orchestrator_service_pb2_grpc
from orchestrator_server.api.admin import SERVICE_NAME as ADMIN_SERVICE_NAME
from orchestrator_server.api.admin import AdminServicer
from orchestrator_server.api.auth import Authentication
from orchestrator_server.api.border import ErrorBorder
from orchestrator_server.api.health import SERVING, HealthService
from orchestrator_server.api.reflection import enable_reflection
from orchestrator_server.api.servicer import OrchestratorServicer
from orchestrator_server.api.tls import ServerTls, TlsSetupError, is_loopback
from orchestrator_server.auth.admin import AdminToken, AdminTokenError
from orchestrator_server.auth.failures import AuthFailures
from orchestrator_server.auth.keys import KeySetupError
from orchestrator_server.config.models import Config
from orchestrator_server.domain.embeddings import EmbeddingRequest
from orchestrator_server.gateway import Gateway
from orchestrator_server.pidfile import PidFileError, remove_pid_file, write_pid_file
from orchestrator_server.providers.base import Provider
from orchestrator_server.providers.catalog import ModelCatalog
from orchestrator_server.providers.registry import ProviderSetupError
from orchestrator_server.reload.build import first_generation
from orchestrator_server.reload.generation import Generations
from orchestrator_server.reload.reloader import Reloader, ReloadHook
from orchestrator_server.reload.watch import ConfigWatcher
from orchestrator_server.retrieval.collections import CollectionLoadError, Collections
from orchestrator_server.routing.router import Router
from orchestrator_server.routing.types import HealthClass, RouteOptions
from orchestrator_server.telemetry.setup import Telemetry, TelemetrySetupError
from orchestrator_server.telemetry.tracing import TracingSetupError
from orchestrator_server.validation.service import KeyValidationService
from orchestrator_server.workers.role import WorkerRole

log = logging.getLogger(__name__)

SERVICE_NAME: str = orchestrator_service_pb2.DESCRIPTOR.services_by_name[
    "OrchestratorService"
].full_name


# How long after the shutdown grace grpc waits before cancelling calls the router has cut:
# time for their answers to go out.
CUT_MARGIN = 1.0


class StartupError(Exception):
    pass


class App:
    """One server with its router and providers. `start`, then `stop` (idempotent).

    The router and providers live in generations: a reload (SIGHUP, the file watcher,
    AdminService) swaps in a new one while calls in flight finish on theirs. `config` is the
    configuration the server started with; its `server` section is not reloaded."""

    def __init__(
        self,
        config: Config,
        *,
        address: str | None = None,
        providers: Sequence[Provider] | None = None,
        config_path: str | Path | None = None,
        telemetry: Telemetry | None = None,
        metrics_address: str | None = None,
        reuse_port: bool = False,
    ) -> None:
        """`telemetry` replaces the one built from config (in-process usage hooks, a span
        exporter); `metrics_address` overrides telemetry.metrics.address; `reuse_port` lets
        the workers of `serve --workers N` share the gRPC port (off otherwise, so a second
        server on a port in use fails instead of silently sharing it)."""
        self.config = config
        self.address = address or config.server.address
        self.reuse_port = reuse_port
        try:
            self.telemetry = telemetry or Telemetry(config, metrics_address=metrics_address)
            first = first_generation(
                config,
                providers,
                observer=self.telemetry.observer,
                context_headers=self.telemetry.context_headers,
            )
            self.admin_token = _admin_token(config)
            self.tls = None if config.server.tls is None else ServerTls(config.server.tls)
        except (
            ProviderSetupError,
            KeySetupError,
            AdminTokenError,
            TlsSetupError,
            TelemetrySetupError,
            TracingSetupError,
        ) as exc:
            raise StartupError(str(exc)) from None
        self.generations = Generations(first)
        path = None if config_path is None else Path(config_path)
        self._config_path = path
        self.reloader = Reloader(self.generations, config_path=path)
        self.catalog = ModelCatalog()
        self.key_validation = KeyValidationService(config.validate_key, config.providers)
        self.reloader.hooks.append(self._reconfigure_key_validation)
        self.auth_failures = AuthFailures()
        self.telemetry.set_auth_source(self.auth_failures.counts)
        # The call layer every door goes through (the gRPC servicer, the HTTP API).
        self.gateway = Gateway(
            self.generations, catalog=self.catalog, auth_failures=self.auth_failures
        )
        if self.tls is not None:
            tls = self.tls
            self.reloader.hooks.append(lambda _: tls.reload())
        # Series of providers a reload removes disappear from the scrape.
        self.telemetry.retain_providers([p.spec.name for p in first.providers])
        self.reloader.hooks.append(self.telemetry.retain_providers)
        self.telemetry.label_aliases(config.aliases)
        self.reloader.hooks.append(
            lambda _: self.telemetry.label_aliases(self.generations.current.config.aliases)
        )
        self.telemetry.set_health_source(self._health)
        self.telemetry.set_reload_source(lambda: self.reloader.counts)
        self.health = HealthService()
        self._watcher: ConfigWatcher | None = None
        if config.reload.watch:
            if path is None:
                log.warning("reload.watch is on but there is no config file to watch")
            else:
                self._watcher = ConfigWatcher(
                    path,
                    config.reload.watch_interval,
                    lambda: self.reloader.reload_in_background("file watch"),
                )
        self.collections = Collections.empty()
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._stopping: asyncio.Task[None] | None = None

    @property
    def router(self) -> Router:
        """The router of the current generation (calls in flight may use older ones)."""
        return self.generations.current.router

    @property
    def providers(self) -> list[Provider]:
        return list(self.generations.current.providers)

    @property
    def reload_hooks(self) -> list[ReloadHook]:
        """Called after each applied reload with the provider names now serving."""
        return self.reloader.hooks

    def _reconfigure_key_validation(self, _names: Sequence[str]) -> None:
        # The file's configuration, not a runtime one: a provider applied through
        # AdminService does not widen where ValidateKey may send callers' keys.
        config = self.reloader.file_config
        self.key_validation.reconfigure(config.validate_key, config.providers)

    def _health(self) -> list[tuple[str, HealthClass]]:
        return [(s.name, s.health) for s in self.router.snapshot()]

    async def _embed_through_router(
        self, request: EmbeddingRequest, timeout: float
    ) -> list[list[float]]:
        """The Embed path for collections with a `gateway` embedder: the router of the
        generation current when the call starts, as for an Embed RPC."""
        with self.generations.lease() as generation:
            result = await generation.router.embed(
                request,
                RouteOptions(model=request.model or ""),
                deadline=time.monotonic() + timeout,
            )
        return result.vectors

    async def start(self) -> int:
        limits = self.config.server.limits
        try:
            self.collections = await Collections.load(
                self.config.retrieval,
                self.config.providers,
                self._embed_through_router,
                config_path=None if self._config_path is None else str(self._config_path),
            )
        except CollectionLoadError as exc:
            raise StartupError(str(exc)) from None
        telemetry = self.telemetry
        try:
            await telemetry.start()
        except TelemetrySetupError as exc:
            await self.collections.aclose()
            raise StartupError(str(exc)) from None
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limits.max_message_bytes),
                ("grpc.max_send_message_length", limits.max_message_bytes),
                ("grpc.so_reuseport", int(self.reuse_port)),
                # Let clients keep idle connections alive through proxies without being
                # punished with GOAWAY (too_many_pings) when they ping every 10 s or more.
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.keepalive_permit_without_calls", 1),
            ],
            maximum_concurrent_rpcs=limits.max_concurrent_rpcs,
        )
        # Every orchestrator service goes through the error border, which also authenticates
        # its calls; health and reflection are grpc's own (and open).
        generations = self.generations
        auth = Authentication(
            lambda: generations.current.keys, self.admin_token, self.auth_failures
        )
        guarded = ErrorBorder(telemetry.metrics, telemetry.server_spans, auth).guard(server)
        orchestrator_service_pb2_grpc.add_OrchestratorServiceServicer_to_server(  # type: ignore[no-untyped-call]
            OrchestratorServicer(
                self.gateway,
                limits,
                key_validation=self.key_validation,
                collections=self.collections,
            ),
            guarded,
        )
        services = [SERVICE_NAME]
        if self.admin_token is not None:
            admin_pb2_grpc.add_AdminServiceServicer_to_server(  # type: ignore[no-untyped-call]
                AdminServicer(self.reloader), guarded
            )
            services.append(ADMIN_SERVICE_NAME)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        if self.config.server.reflection:
            enable_reflection((*services, health.SERVICE_NAME), server)
        try:
            if self.tls is None:
                port = server.add_insecure_port(self.address)
            else:
                port = server.add_secure_port(self.address, self.tls.credentials())
        except RuntimeError as exc:
            port, reason = 0, f": {exc}"
        else:
            reason = ""
        if port == 0:
            await telemetry.stop()
            raise StartupError(f"cannot listen on {self.address}{reason}")
        # Before the port takes connections: with workers sharing it, a probe may reach this
        # one the moment it listens.
        for name in ("", *services):
            await self.health.set(name, SERVING)
        await server.start()
        self._server, self.port = server, port
        if self._watcher is not None:
            self._watcher.start()
        return port

    async def stop(self, grace: float | None = None) -> None:
        """Health turns NOT_SERVING, new calls are refused, calls in flight get `grace`
        seconds to finish (then are cancelled), and provider sessions are closed."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop(grace))
        await asyncio.shield(self._stopping)

    async def _stop(self, grace: float | None) -> None:
        grace = self.config.server.grace_period if grace is None else grace
        if self._watcher is not None:
            await self._watcher.stop()
        await self.reloader.aclose()
        await self.health.drain()
        if self._server is not None:
            await self._drain(self._server, grace)
        await self.generations.aclose()
        await self.key_validation.aclose()
        await self.collections.aclose()
        await self.telemetry.stop()

    async def _drain(self, server: grpc.aio.Server, grace: float) -> None:
        """Calls in flight get `grace` seconds. Then the router cuts the ones still running:
        each ends with UNAVAILABLE (SHUTTING_DOWN), its attempts and, for a stream that sent
        text, the partial-output trailer, instead of grpc's bare cancellation; grpc cancels
        whatever is left CUT_MARGIN later."""
        stopping = asyncio.ensure_future(server.stop(grace + CUT_MARGIN))
        done, _ = await asyncio.wait({stopping}, timeout=grace)
        if not done:
            cut = self.generations.interrupt()
            if cut:
                log.warning("shutdown grace (%.1f s) ran out: %d call(s) cut short", grace, cut)
        await stopping

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


def _admin_token(config: Config) -> AdminToken | None:
    """AdminService is served only with a token: without one, anyone who reaches the port
    could reconfigure the server."""
    admin = config.reload.admin
    if not admin.enabled or admin.token_env is None:
        return None
    return AdminToken.from_env(admin.token_env)


def security_summary(app: App) -> list[tuple[int, str]]:
    """What a start-up log says about who can reach what: (level, line)."""
    config = app.config
    exposed = not is_loopback(app.address)
    lines: list[tuple[int, str]] = []
    if app.tls is None:
        transport = "plaintext"
        if exposed:
            lines.append(
                (
                    logging.WARNING,
                    f"listening in plaintext on {app.address}, beyond this machine: set "
                    "server.tls, or keep the port inside a mesh that does mTLS "
                    "(docs/security.md)",
                )
            )
    else:
        transport = "mTLS" if app.tls.mutual else "TLS"
    keys = app.generations.current.keys
    if keys is None:
        callers = "open to every caller (no auth section)"
        if exposed:
            lines.append(
                (
                    logging.WARNING,
                    "no caller keys (no auth section): anyone who reaches the port can spend "
                    "the provider keys",
                )
            )
    else:
        callers = f"{len(keys)} caller key(s)"
    admin = "AdminService on (admin token)" if app.admin_token else "AdminService off"
    if config.reload.admin.enabled and app.admin_token is None:
        admin += " (set reload.admin.token_env to serve it)"
    lines.insert(0, (logging.INFO, f"security: {transport}; {callers}; {admin}"))
    return lines


def _log_started(app: App, *, own_metrics: bool) -> None:
    for level, line in security_summary(app):
        log.log(level, "%s", line)
    log.info(
        "orchestrator listening on %s (port %d); providers: %s; strategy: %s",
        app.address,
        app.port,
        ", ".join(p.spec.name for p in app.providers),
        app.router.strategy,
    )
    # A worker's metrics go to the supervisor, which announces the one scrape itself.
    if own_metrics and app.telemetry.metrics_address is not None:
        log.info(
            "metrics on http://%s/metrics (port %d)",
            app.telemetry.metrics_address,
            app.telemetry.metrics_port,
        )


async def serve(
    config: Config,
    *,
    address: str | None = None,
    config_path: str | Path | None = None,
    metrics_address: str | None = None,
    worker: WorkerRole | None = None,
    pid_file: str | Path | None = None,
) -> None:
    """Runs until SIGTERM or SIGINT, then shuts down gracefully. SIGHUP re-reads
    `config_path` and applies it without dropping calls in flight. As one of the workers of
    `serve --workers N` (`worker`), it shares the port, serves its metrics to the supervisor
    and stops, gracefully too, should the supervisor disappear. `pid_file` holds the process
    id while the server listens (written once it does, removed when it stops)."""
    if worker is not None:
        metrics_address = worker.metrics_address(
            config.telemetry.metrics.address if metrics_address is None else metrics_address
        )
    # Raises StartupError for a missing key or a port in use.
    app = App(
        config,
        address=address,
        config_path=config_path,
        metrics_address=metrics_address,
        reuse_port=worker is not None,
    )
    await app.start()
    _log_started(app, own_metrics=worker is None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, app.reloader.reload_in_background, "SIGHUP")
    if worker is not None:
        await worker.serving(stop.set)
    pid_path = None if pid_file is None else Path(pid_file)
    if pid_path is not None:
        try:
            write_pid_file(pid_path)
        except PidFileError as exc:
            await app.stop(grace=0)
            raise StartupError(str(exc)) from None
        log.info("pid %d in %s", os.getpid(), pid_path)
    try:
        await stop.wait()
        log.info(
            "shutting down: refusing new calls, in-flight calls get %.1f s",
            config.server.grace_period,
        )
        await app.stop()
        log.info("stopped")
    finally:
        if worker is not None:
            worker.close()
        if pid_path is not None:
            remove_pid_file(pid_path)
