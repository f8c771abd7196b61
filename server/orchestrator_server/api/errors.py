"""The one table from domain errors to gRPC statuses, with google.rpc details attached."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from orchestrator.v1 import common_pb2
from orchestrator_server.api.convert import attempts_to_proto
from orchestrator_server.domain.errors import (
    AliasNotAllowed,
    AllProvidersFailed,
    AllRateLimited,
    ApiKeyExpired,
    ApiKeyInvalid,
    ApiKeyMissing,
    CollectionUnavailable,
    ConfigFileRejected,
    ConfigNotPermitted,
    ConfigRejected,
    DeadlineExceeded,
    GatewayError,
    GatewayRateLimited,
    InvalidRequest,
    ModelNotAllowed,
    NotFound,
    ProviderNotAllowed,
    ProviderRejectedRequest,
    ServerShuttingDown,
    StreamInterrupted,
    Unauthenticated,
    UnsupportedFeature,
)

log = logging.getLogger(__name__)

ERROR_DOMAIN = "orchestrator.v1"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
PARTIAL_OUTPUT_KEY = "orchestrator-partial-output"


@dataclass(frozen=True, slots=True)
class StatusRule:
    code: grpc.StatusCode
    reason: str  # ErrorInfo.reason: stable, machine-readable


# Looked up along the exception's MRO, so a subclass may have its own row.
STATUS_TABLE: dict[type[GatewayError], StatusRule] = {
    InvalidRequest: StatusRule(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST"),
    UnsupportedFeature: StatusRule(grpc.StatusCode.INVALID_ARGUMENT, "UNSUPPORTED_FEATURE"),
    ProviderRejectedRequest: StatusRule(
        grpc.StatusCode.INVALID_ARGUMENT, "PROVIDER_REJECTED_REQUEST"
    ),
    NotFound: StatusRule(grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
    AllRateLimited: StatusRule(grpc.StatusCode.RESOURCE_EXHAUSTED, "ALL_PROVIDERS_RATE_LIMITED"),
    GatewayRateLimited: StatusRule(grpc.StatusCode.RESOURCE_EXHAUSTED, "GATEWAY_RATE_LIMITED"),
    AllProvidersFailed: StatusRule(grpc.StatusCode.UNAVAILABLE, "ALL_PROVIDERS_FAILED"),
    StreamInterrupted: StatusRule(grpc.StatusCode.UNAVAILABLE, "STREAM_INTERRUPTED"),
    DeadlineExceeded: StatusRule(grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"),
    ServerShuttingDown: StatusRule(grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN"),
    ConfigRejected: StatusRule(grpc.StatusCode.INVALID_ARGUMENT, "CONFIG_REJECTED"),
    ConfigFileRejected: StatusRule(grpc.StatusCode.FAILED_PRECONDITION, "CONFIG_FILE_REJECTED"),
    ConfigNotPermitted: StatusRule(grpc.StatusCode.PERMISSION_DENIED, "CONFIG_NOT_PERMITTED"),
    Unauthenticated: StatusRule(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
    ApiKeyMissing: StatusRule(grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING"),
    ApiKeyInvalid: StatusRule(grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID"),
    ApiKeyExpired: StatusRule(grpc.StatusCode.UNAUTHENTICATED, "API_KEY_EXPIRED"),
    ModelNotAllowed: StatusRule(grpc.StatusCode.PERMISSION_DENIED, "MODEL_NOT_ALLOWED"),
    AliasNotAllowed: StatusRule(grpc.StatusCode.PERMISSION_DENIED, "ALIAS_NOT_ALLOWED"),
    ProviderNotAllowed: StatusRule(grpc.StatusCode.PERMISSION_DENIED, "PROVIDER_NOT_ALLOWED"),
    CollectionUnavailable: StatusRule(
        grpc.StatusCode.FAILED_PRECONDITION, "COLLECTION_UNAVAILABLE"
    ),
}
INTERNAL = StatusRule(grpc.StatusCode.INTERNAL, "INTERNAL")


@dataclass(frozen=True, slots=True)
class MappedStatus:
    code: grpc.StatusCode
    message: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def rule_for(error: BaseException) -> StatusRule:
    for cls in type(error).__mro__:
        rule = STATUS_TABLE.get(cls)
        if rule is not None:
            return rule
    return INTERNAL


def map_error(error: BaseException, request_id: str) -> MappedStatus:
    """The status for any exception. Unknown ones become INTERNAL with a generic message (the
    real one is logged), since their text may hold anything."""
    rule = rule_for(error)
    if not isinstance(error, GatewayError):
        log.error("internal error (request %s)", request_id, exc_info=error)
        message = f"internal error; request id {request_id}"
        return _mapped(rule, message, [_error_info(rule, request_id)], partial=False)
    details: list[object] = [_error_info(rule, request_id)]
    if isinstance(error, InvalidRequest):
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
    elif isinstance(error, NotFound):
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=error.field, description=error.message
                    )
                ]
            )
        )
        details.append(
            error_details_pb2.ResourceInfo(
                resource_type=error.resource_type, resource_name=error.name
            )
        )
    elif isinstance(error, ConfigRejected):
        details.append(_config_problems(error))
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(retry_after * 1e9))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    partial = error.partial
    if error.attempts or partial:
        details.append(
            common_pb2.AttemptTrail(
                attempts=attempts_to_proto(error.attempts), partial_output=partial
            )
        )
    return _mapped(rule, error.message, details, partial=partial)


def _config_problems(error: ConfigRejected) -> object:
    # FAILED_PRECONDITION's detail is PreconditionFailure; INVALID_ARGUMENT's is BadRequest.
    if isinstance(error, ConfigFileRejected):
        return error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type="CONFIG", subject=error.source, description=problem
                )
                for problem in error.problems
            ]
        )
    violations = []
    for problem in error.problems:
        # "providers[0].model: Field required" names a request field itself (ApplyProviders);
        # a problem inside YAML text is reported against the text's field.
        path, _, description = problem.partition(": ")
        if description and path.startswith(error.field):
            violations.append(
                error_details_pb2.BadRequest.FieldViolation(field=path, description=description)
            )
        else:
            violations.append(
                error_details_pb2.BadRequest.FieldViolation(field=error.field, description=problem)
            )
    return error_details_pb2.BadRequest(field_violations=violations)


def _error_info(rule: StatusRule, request_id: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(
        reason=rule.reason, domain=ERROR_DOMAIN, metadata={"request_id": request_id}
    )


def _mapped(
    rule: StatusRule, message: str, details: list[object], *, partial: bool
) -> MappedStatus:
    status = status_pb2.Status(code=rule.code.value[0], message=message)
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)  # type: ignore[arg-type]
        status.details.append(packed)
    metadata: list[tuple[str, str | bytes]] = [(STATUS_DETAILS_KEY, status.SerializeToString())]
    if partial:
        metadata.append((PARTIAL_OUTPUT_KEY, "true"))
    return MappedStatus(rule.code, message, tuple(metadata))
