"""The servicer covers the contract, and the two generate requests stay interchangeable."""

from __future__ import annotations

from orchestrator.v1 import generate_pb2, orchestrator_service_pb2
from orchestrator_server.api.servicer import OrchestratorServicer


def test_every_rpc_has_a_servicer_method() -> None:
    service = orchestrator_service_pb2.DESCRIPTOR.services_by_name["OrchestratorService"]
    for method in service.methods:
        implementation = getattr(OrchestratorServicer, method.name, None)
        assert implementation is not None, method.name
        assert implementation.__qualname__.startswith("OrchestratorServicer."), method.name


def test_stream_request_has_exactly_the_generate_request_fields() -> None:
    def shape(message: type) -> list[tuple[str, int, int, str]]:
        return [
            (f.name, f.number, f.type, f.message_type.full_name if f.message_type else "")
            for f in message.DESCRIPTOR.fields  # type: ignore[attr-defined]
        ]

    assert shape(generate_pb2.GenerateStreamRequest) == shape(generate_pb2.GenerateRequest)
