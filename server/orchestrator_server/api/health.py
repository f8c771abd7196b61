"""grpc.health.v1.Health, with watches that end once a shutdown has been announced.

The stock aio servicer keeps every Watch stream open for ever; since open calls hold the
server's grace period, one prober watching health made every shutdown wait out the whole
grace. Here a Watch sends NOT_SERVING and then ends with OK when the server starts draining.
"""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING: int = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: int = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN: int = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN

Context = grpc.aio.ServicerContext[object, object]


class HealthService(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self._status: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._draining = False

    async def set(self, service: str, status: int) -> None:
        async with self._changed:
            if not self._draining:
                self._status[service] = status
                self._changed.notify_all()

    async def drain(self) -> None:
        """Every service turns NOT_SERVING for good, and watches end after saying so."""
        async with self._changed:
            self._draining = True
            for service in self._status:
                self._status[service] = NOT_SERVING
            self._changed.notify_all()

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: Context
    ) -> health_pb2.HealthCheckResponse:
        status = self._status.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: Context) -> None:
        sent: int | None = None
        while True:
            status, draining = await self._next(request.service, sent)
            if status != sent:
                await context.write(health_pb2.HealthCheckResponse(status=status))
                sent = status
            if draining:
                return

    async def _next(self, service: str, sent: int | None) -> tuple[int, bool]:
        """Waits until the status differs from what was sent, or draining begins."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._draining or self._current(service) != sent)
            return self._current(service), self._draining

    def _current(self, service: str) -> int:
        return self._status.get(service, SERVICE_UNKNOWN)
