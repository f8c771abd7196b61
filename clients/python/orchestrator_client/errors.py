"""Exceptions the clients raise: one class per kind of failure a caller handles differently.

Every exception carries the gRPC status code, the server's message and what the status
details say (ErrorInfo reason and request id, BadRequest violations, RetryInfo delay, the
provider attempt trail, whether a stream's output was partial), so callers never parse
trailers themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from orchestrator.v1 import common_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"
PARTIAL_OUTPUT_KEY = "orchestrator-partial-output"
ERROR_DOMAIN = "orchestrator.v1"

Metadata = Sequence[tuple[str, str | bytes]]
_M = TypeVar("_M")


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


class OrchestratorError(Exception):
    """A failed call. `code` is the gRPC status; the rest comes from its details."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        request_id: str = "",
        attempts: Sequence[common_pb2.Attempt] = (),
        retry_after: float | None = None,
        violations: Sequence[FieldViolation] = (),
        resource: tuple[str, str] | None = None,
        partial_output: bool = False,
        calls: int = 1,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason  # ErrorInfo.reason, e.g. "ALL_PROVIDERS_FAILED"; "" if none
        self.request_id = request_id
        self.attempts = list(attempts)  # the server's provider attempts, in order
        self.retry_after = retry_after  # seconds, from RetryInfo
        self.violations = list(violations)  # BadRequest field violations
        self.resource = resource  # (type, name) from ResourceInfo
        self.partial_output = partial_output  # a stream delivered text before it broke
        self.calls = calls  # how many times the client sent the request (client retries)

    def __str__(self) -> str:
        text = f"{self.code.name}: {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def describe(self) -> str:
        """Several lines a person can read: the status, bad fields, and the attempt trail."""
        lines = [str(self)]
        violations = (f"{v.field}: {v.description}" for v in self.violations)
        lines += [f"  {v}" for v in violations if v not in self.message]
        for a in self.attempts:
            outcome = common_pb2.AttemptOutcome.Name(a.outcome).removeprefix("ATTEMPT_OUTCOME_")
            error = f" {a.error_code}: {a.message}" if a.error_code else ""
            lines.append(f"  tried {a.provider}/{a.model}: {outcome.lower()}{error}")
        if self.retry_after is not None:
            lines.append(f"  retry after {self.retry_after:g} s")
        if self.partial_output:
            lines.append("  the output so far is partial")
        return "\n".join(lines)


class InvalidArgument(OrchestratorError):
    """The request breaks a rule (see `violations`), or a provider rejected it."""


class NotFound(OrchestratorError):
    """Unknown provider, model, alias or collection (see `resource`)."""


class RateLimited(OrchestratorError):
    """RESOURCE_EXHAUSTED: every provider was rate-limited, or a gateway limit was hit."""


class Unavailable(OrchestratorError):
    """Every provider failed (see `attempts`)."""


class StreamInterrupted(Unavailable):
    """A stream broke after it had delivered text; what arrived is partial."""


class ConnectError(Unavailable):
    """The gateway could not be reached at all (no orchestrator status details came back)."""


class DeadlineExceeded(OrchestratorError):
    """The call's deadline ran out."""


class Cancelled(OrchestratorError):
    """The call was cancelled."""


class Unauthenticated(OrchestratorError):
    """The caller's credentials were missing or rejected (by the gateway or a proxy)."""


class PermissionDenied(OrchestratorError):
    """The caller may not do this."""


class Unimplemented(OrchestratorError):
    """The server does not implement this RPC (an older server, or one still being built)."""


class InternalError(OrchestratorError):
    """A bug in the server, or any other status."""


_CLASSES: dict[grpc.StatusCode, type[OrchestratorError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimited,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
}


def from_status(
    code: grpc.StatusCode,
    message: str,
    trailing_metadata: Iterable[tuple[str, str | bytes]] | None,
    *,
    calls: int = 1,
) -> OrchestratorError:
    """The exception for a status and its trailing metadata."""
    metadata = list(trailing_metadata or ())
    fields: dict[str, object] = {}
    error_info: error_details_pb2.ErrorInfo | None = None
    partial = any(k == PARTIAL_OUTPUT_KEY and v in ("true", b"true") for k, v in metadata)
    for packed in _details(metadata):
        if packed.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            error_info = _unpack(packed, error_details_pb2.ErrorInfo())
            fields["reason"] = error_info.reason
            fields["request_id"] = error_info.metadata.get("request_id", "")
        elif packed.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            delay = _unpack(packed, error_details_pb2.RetryInfo()).retry_delay
            fields["retry_after"] = delay.ToNanoseconds() / 1e9
        elif packed.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = _unpack(packed, error_details_pb2.BadRequest())
            fields["violations"] = [
                FieldViolation(v.field, v.description) for v in bad.field_violations
            ]
        elif packed.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
            info = _unpack(packed, error_details_pb2.ResourceInfo())
            fields["resource"] = (info.resource_type, info.resource_name)
        elif packed.Is(common_pb2.AttemptTrail.DESCRIPTOR):  # type: ignore[arg-type]
            trail = _unpack(packed, common_pb2.AttemptTrail())
            fields["attempts"] = list(trail.attempts)
            partial = partial or trail.partial_output
    cls = _CLASSES.get(code, InternalError)
    if code is grpc.StatusCode.UNAVAILABLE:
        if partial:
            cls = StreamInterrupted
        elif error_info is None or error_info.domain != ERROR_DOMAIN:
            cls = ConnectError
    return cls(code, message, partial_output=partial, calls=calls, **fields)  # type: ignore[arg-type]


def from_rpc_error(error: grpc.RpcError, *, calls: int = 1) -> OrchestratorError:
    """The exception for a failed call of either grpc API (sync `grpc.Call` or aio)."""
    code = _call(error, "code")
    message = _call(error, "details")
    trailing = _call(error, "trailing_metadata")
    return from_status(
        code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN,
        message if isinstance(message, str) else str(error),
        trailing,  # type: ignore[arg-type]
        calls=calls,
    )


def _call(error: grpc.RpcError, name: str) -> object:
    method = getattr(error, name, None)
    return method() if callable(method) else None


def _details(metadata: Metadata) -> list[any_pb2.Any]:
    for key, value in metadata:
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                return list(status_pb2.Status.FromString(value).details)
            except Exception:  # a proxy's garbled trailer must not hide the status itself
                return []
    return []


def _unpack(packed: any_pb2.Any, into: _M) -> _M:
    packed.Unpack(into)  # type: ignore[arg-type]
    return into
