"""A real grpc.aio server on port 0 whose OrchestratorService answers from a script.

For client tests of RPCs whose server side is elsewhere (or to provoke statuses the real
server gives only rarely): queue replies per method, call, then inspect what arrived.

    async with scripted_server() as server:
        server.script("Retrieve", retrieve_pb2.RetrieveResponse(...))
        server.script("Generate", Abort(grpc.StatusCode.UNAVAILABLE, "down", retry_after=0.5))
        ... call server.target ...
        assert server.calls[0].request.query == "..."
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2, message
from google.rpc import error_details_pb2, status_pb2

from orchestrator.v1 import orchestrator_service_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


@dataclass
class Abort:
    """A scripted failure: a status with google.rpc details built from the fields given."""

    code: grpc.StatusCode
    message: str
    reason: str = ""  # ErrorInfo.reason (domain orchestrator.v1); "" sends no ErrorInfo
    request_id: str = "scripted-1"
    retry_after: float | None = None  # RetryInfo
    details: Sequence[message.Message] = ()  # any further details, e.g. an AttemptTrail
    trailing: Sequence[tuple[str, str]] = ()

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        details: list[message.Message] = []
        if self.reason:
            details.append(
                error_details_pb2.ErrorInfo(
                    reason=self.reason,
                    domain="orchestrator.v1",
                    metadata={"request_id": self.request_id},
                )
            )
        if self.retry_after is not None:
            delay = duration_pb2.Duration()
            delay.FromNanoseconds(int(self.retry_after * 1e9))
            details.append(error_details_pb2.RetryInfo(retry_delay=delay))
        details += self.details
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        for detail in details:
            packed = any_pb2.Any()
            packed.Pack(detail)
            status.details.append(packed)
        return (("grpc-status-details-bin", status.SerializeToString()), *self.trailing)


@dataclass
class Call:
    method: str
    request: Any
    metadata: dict[str, str | bytes]
    deadline_set: bool


@dataclass
class ScriptedServicer(orchestrator_service_pb2_grpc.OrchestratorServiceServicer):
    # Unary methods: one reply (message or Abort) per call. GenerateStream: one list of
    # events (messages, ending in an optional Abort) per call.
    replies: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    calls: list[Call] = field(default_factory=list)

    async def _next(self, method: str, request: Any, context: Context) -> Any:
        metadata = dict(context.invocation_metadata() or ())
        self.calls.append(Call(method, request, metadata, context.time_remaining() is not None))
        if not self.replies[method]:
            await context.abort(grpc.StatusCode.INTERNAL, f"no scripted reply for {method}")
        return self.replies[method].pop(0)

    async def _unary(self, method: str, request: Any, context: Context) -> Any:
        reply = await self._next(method, request, context)
        if isinstance(reply, Abort):
            await context.abort(reply.code, reply.message, reply.trailing_metadata())
        return reply

    async def Generate(self, request: Any, context: Context) -> Any:
        return await self._unary("Generate", request, context)

    async def GenerateStream(self, request: Any, context: Context) -> AsyncIterator[Any]:
        for event in await self._next("GenerateStream", request, context):
            if isinstance(event, Abort):
                await context.abort(event.code, event.message, event.trailing_metadata())
            yield event

    async def ValidateKey(self, request: Any, context: Context) -> Any:
        return await self._unary("ValidateKey", request, context)

    async def Retrieve(self, request: Any, context: Context) -> Any:
        return await self._unary("Retrieve", request, context)

    async def GetMetrics(self, request: Any, context: Context) -> Any:
        return await self._unary("GetMetrics", request, context)


@dataclass
class ScriptedServer:
    servicer: ScriptedServicer
    port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def calls(self) -> list[Call]:
        return self.servicer.calls

    def script(self, method: str, *replies: Any) -> None:
        self.servicer.replies[method].extend(replies)


@asynccontextmanager
async def scripted_server() -> AsyncIterator[ScriptedServer]:
    servicer = ScriptedServicer()
    server = grpc.aio.server()
    orchestrator_service_pb2_grpc.add_OrchestratorServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield ScriptedServer(servicer, port)
    finally:
        await server.stop(grace=0)
