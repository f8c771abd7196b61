"""Client for the orchestrator gRPC service.

The full async and sync client arrives with the clients issue; until then use the generated
stubs directly: ``orchestrator.v1.orchestrator_service_pb2_grpc.OrchestratorServiceStub``.
"""

from orchestrator.v1 import orchestrator_service_pb2_grpc

OrchestratorServiceStub = orchestrator_service_pb2_grpc.OrchestratorServiceStub

__all__ = ["OrchestratorServiceStub"]
