"""Python client for the orchestrator gRPC gateway.

    from orchestrator_client import OrchestratorClient, AsyncOrchestratorClient

Both clients have `generate`, `stream`, `embed`, `validate_key`, `retrieve` and `metrics`;
tools, JSON-schema output and images are built with the helpers of
`orchestrator_client.tools` (re-exported here); failures
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
from orchestrator_client.tools import (
    arguments,
    assistant_message,
    image_part,
    json_schema_format,
    schema_of,
    strict_schema,
    text_part,
    tool,
    tool_result,
)

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
    "arguments",
    "assistant_message",
    "image_part",
    "json_schema_format",
    "schema_of",
    "strict_schema",
    "text_part",
    "tool",
    "tool_result",
]
