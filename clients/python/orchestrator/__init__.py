"""Generated protobuf and gRPC code for the orchestrator contract (see orchestrator.v1)."""
