"""Python client for the orchestrator gRPC gateway.

    from orchestrator_client import OrchestratorClient, AsyncOrchestratorClient

Both clients have `generate`, `stream`, `validate_key`, `retrieve` and `metrics`; failures
raise `OrchestratorError` subclasses carrying the status, the attempt trail and RetryInfo.
The generated stubs are in `orchestrator.v1`. LangChain classes are in
`orchestrator_client.langchain` (extra `[langchain]`).
"""

from orchestrator_client.aio import AsyncGenerationStream, AsyncOrchestratorClient
from orchestrator_client.connection import RetryPolicy
from orchestrator_client.errors import (
    Cancelled,
    ConnectError,
    DeadlineExceeded,
    FieldViolation,
    InternalError,
    InvalidArgument,
    NotFound,
    OrchestratorError,
    PermissionDenied,
    RateLimited,
    StreamInterrupted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from orchestrator_client.sync import GenerationStream, OrchestratorClient

__all__ = [
    "AsyncGenerationStream",
    "AsyncOrchestratorClient",
    "Cancelled",
    "ConnectError",
    "DeadlineExceeded",
    "FieldViolation",
    "GenerationStream",
    "InternalError",
    "InvalidArgument",
    "NotFound",
    "OrchestratorClient",
    "OrchestratorError",
    "PermissionDenied",
    "RateLimited",
    "RetryPolicy",
    "StreamInterrupted",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
]
