"""ErrorBorder.guard: the handlers a generated add_*Servicer_to_server registers are wrapped
once, both the server's fast path (registered by name) and its generic fallback."""

from __future__ import annotations

from typing import Any

import grpc

from orchestrator.v1 import orchestrator_service_pb2_grpc
from orchestrator_server.api.border import ErrorBorder, Undecodable


class Recording:
    """Stands in for grpc.aio.Server: keeps what is registered."""

    def __init__(self) -> None:
        self.registered: dict[str, Any] = {}
        self.generic: list[grpc.GenericRpcHandler] = []

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.registered.update({f"/{service}/{name}": h for name, h in handlers.items()})

    def add_generic_rpc_handlers(self, handlers: tuple[grpc.GenericRpcHandler, ...]) -> None:
        self.generic.extend(handlers)


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def test_every_method_is_wrapped_on_both_paths() -> None:
    server = Recording()
    servicer = orchestrator_service_pb2_grpc.OrchestratorServiceServicer()
    orchestrator_service_pb2_grpc.add_OrchestratorServiceServicer_to_server(  # type: ignore[no-untyped-call]
        servicer,
        ErrorBorder().guard(server),  # type: ignore[arg-type]
    )
    assert len(server.registered) == 8
    [generic] = server.generic
    for method, handler in server.registered.items():
        behaviour = handler.unary_unary or handler.unary_stream
        assert behaviour is not getattr(servicer, method.rsplit("/", 1)[1])
        assert isinstance(handler.request_deserializer(b"\xff"), Undecodable)
        fallback = generic.service(Details(method))
        assert fallback is not None
        assert isinstance(fallback.request_deserializer(b"\xff"), Undecodable)
        assert generic.service(Details(method)) is fallback  # wrapped once, then reused
    assert generic.service(Details("/orchestrator.v1.OrchestratorService/Nope")) is None
