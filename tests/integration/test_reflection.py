"""Server reflection answers as grpc.reflection.v1 (what current tools try first) and as
v1alpha, listing the same services and describing them."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2

from tests.helpers import ADMIN, make_config, mock_provider, running

SERVICES = {
    "orchestrator.v1.OrchestratorService",
    "orchestrator.v1.AdminService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
}


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_lists_and_describes(version: str) -> None:
    async with running(make_config(mock_provider("m"), reload=ADMIN)) as server:
        # v1's messages are v1alpha's under another package: the same bytes on the wire.
        call = server.channel.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(
                file_containing_symbol="orchestrator.v1.OrchestratorService"
            ),
            reflection_pb2.ServerReflectionRequest(
                file_containing_symbol="grpc.reflection.v1.ServerReflection"
            ),
        ]
        replies = [reply async for reply in call(iter(requests), timeout=10)]
    listed = {s.name for s in replies[0].list_services_response.service}
    assert listed == SERVICES
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in replies[1].file_descriptor_response.file_descriptor_proto
    ]
    service = next(f for f in files if f.name == "orchestrator/v1/orchestrator_service.proto")
    assert "Generate" in {m.name for m in service.service[0].method}
    (v1,) = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in replies[2].file_descriptor_response.file_descriptor_proto
    ]
    assert v1.package == "grpc.reflection.v1"
    assert v1.service[0].method[0].input_type == ".grpc.reflection.v1.ServerReflectionRequest"
