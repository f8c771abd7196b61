"""ValidateKey messages to and from the validation domain."""

from __future__ import annotations

from orchestrator.v1 import common_pb2, validate_key_pb2
from orchestrator_server.api.convert import duration
from orchestrator_server.config import providers as config_kinds
from orchestrator_server.validation.types import Credential, KeyCheck, ValidationCode, Verdict

# Proto enum -> the kind ValidateKey checks for it, from the registry: the kinds with a
# validator (PROVIDER_KIND_OPENAI_COMPATIBLE is "openai").
KINDS: dict[int, str] = {
    common_pb2.ProviderKind.Value(kind.proto): kind.name
    for kind in config_kinds.KINDS
    if kind.validator is not None
}
CREDENTIALS: dict[int, Credential] = {
    validate_key_pb2.CREDENTIAL_TYPE_UNSPECIFIED: Credential.DEFAULT,
    validate_key_pb2.CREDENTIAL_TYPE_API_KEY: Credential.API_KEY,
    validate_key_pb2.CREDENTIAL_TYPE_IAM_TOKEN: Credential.IAM_TOKEN,
}
CODES: dict[ValidationCode, validate_key_pb2.ValidationErrorCode] = {
    ValidationCode.SUCCESS: validate_key_pb2.VALIDATION_ERROR_CODE_SUCCESS,
    ValidationCode.INVALID_API_KEY: validate_key_pb2.VALIDATION_ERROR_CODE_INVALID_API_KEY,
    ValidationCode.SCOPE_MISMATCH: validate_key_pb2.VALIDATION_ERROR_CODE_SCOPE_MISMATCH,
    ValidationCode.PERMISSION_DENIED: validate_key_pb2.VALIDATION_ERROR_CODE_PERMISSION_DENIED,
    ValidationCode.RATE_LIMIT_EXCEEDED: validate_key_pb2.VALIDATION_ERROR_CODE_RATE_LIMIT_EXCEEDED,
    ValidationCode.NETWORK_TIMEOUT: validate_key_pb2.VALIDATION_ERROR_CODE_NETWORK_TIMEOUT,
    ValidationCode.PROVIDER_ERROR: validate_key_pb2.VALIDATION_ERROR_CODE_PROVIDER_ERROR,
    ValidationCode.VALIDATION_ERROR: validate_key_pb2.VALIDATION_ERROR_CODE_VALIDATION_ERROR,
}


def to_check(request: validate_key_pb2.ValidateKeyRequest) -> KeyCheck:
    """Unknown enum numbers become values the domain rejects with the field's name."""
    return KeyCheck(
        kind=KINDS.get(request.provider, ""),
        api_key=request.api_key,
        scope=request.scope,
        folder_id=request.folder_id,
        base_url=request.base_url,
        credential=CREDENTIALS.get(request.credential_type, Credential.UNKNOWN),
    )


def to_response(verdict: Verdict) -> validate_key_pb2.ValidateKeyResponse:
    return validate_key_pb2.ValidateKeyResponse(
        valid=verdict.valid,
        error_code=CODES[verdict.code],
        message=verdict.message,
        retry_after=duration(verdict.retry_after),
        details=validate_key_pb2.ValidationDetails(
            detected_scope=verdict.detected_scope,
            request_id=verdict.request_id,
            attempts=verdict.attempts,
            elapsed=duration(verdict.elapsed),
            tried_scopes=list(verdict.tried_scopes),
        ),
    )
