"""The server interceptor for telemetry: per RPC, a SERVER span continuing the caller's W3C
trace context (tracing on), its duration by method and status, and the gateway's own
overhead: the RPC's time minus the time its provider calls took (metrics on).

Installed only when metrics or tracing are on; wrapped handlers are built once per method.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from orchestrator_server.telemetry.metrics import CURRENT_RPC, GatewayMetrics, RpcTiming
from orchestrator_server.telemetry.tracing import ServerSpans

Context = grpc.aio.ServicerContext[Any, Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
_OK = grpc.StatusCode.OK


class TelemetryInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: GatewayMetrics | None, spans: ServerSpans | None) -> None:
        self._metrics = metrics
        self._spans = spans
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(method, handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, method: str, handler: Handler) -> Handler:
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # client- and bidi-streaming: none in this service

    def _unary(self, method: str, behaviour: Any) -> Any:
        async def unary(request: Any, context: Context) -> Any:
            start, timing, scope = self._begin(method, context)
            try:
                return await behaviour(request, context)
            finally:
                self._end(method, context, start, timing, scope)

        return unary

    def _stream(self, method: str, behaviour: Any) -> Any:
        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            start, timing, scope = self._begin(method, context)
            try:
                async for message in behaviour(request, context):
                    yield message
            finally:
                self._end(method, context, start, timing, scope)

        return stream

    def _begin(self, method: str, context: Context) -> tuple[float, RpcTiming, Any]:
        timing = RpcTiming()
        CURRENT_RPC.set(timing)  # this RPC's own task: no reset needed
        scope = None
        if self._spans is not None:
            scope = self._spans.start(method, context.invocation_metadata())
        return time.perf_counter(), timing, scope

    def _end(
        self, method: str, context: Context, start: float, timing: RpcTiming, scope: Any
    ) -> None:
        duration = time.perf_counter() - start
        code = context.code()
        status = _OK if code is None else code
        if isinstance(status, int):  # some grpc versions report the number
            status = _BY_VALUE.get(status, grpc.StatusCode.UNKNOWN)
        if self._metrics is not None:
            self._metrics.rpc_ended(method, status.name, duration, timing.provider_time)
        if scope is not None:
            span, token = scope
            ServerSpans.end(span, token, status.name, status.value[0])


_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}
