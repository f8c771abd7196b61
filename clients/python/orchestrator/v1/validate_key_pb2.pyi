import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from orchestrator.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CredentialType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDENTIAL_TYPE_UNSPECIFIED: _ClassVar[CredentialType]
    CREDENTIAL_TYPE_API_KEY: _ClassVar[CredentialType]
    CREDENTIAL_TYPE_IAM_TOKEN: _ClassVar[CredentialType]

class ValidationErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALIDATION_ERROR_CODE_UNSPECIFIED: _ClassVar[ValidationErrorCode]
    VALIDATION_ERROR_CODE_SUCCESS: _ClassVar[ValidationErrorCode]
    VALIDATION_ERROR_CODE_INVALID_API_KEY: _ClassVar[ValidationErrorCode]
    VALIDATION_ERROR_CODE_SCOPE_MISMATCH: _ClassVar[ValidationErrorCode]
    VALIDATION_ERROR_CODE_PERMISSION_DENIED: _ClassVar[ValidationErrorCode]
    VALIDATION_ERROR_CODE_RATE_LIMIT_EXCEEDED: _ClassVar[ValidationErrorCode]
    VALIDATION_ERROR_CODE_NETWORK_TIMEOUT: _ClassVar[ValidationErrorCode]
    VALIDATION_ERROR_CODE_PROVIDER_ERROR: _ClassVar[ValidationErrorCode]
    VALIDATION_ERROR_CODE_VALIDATION_ERROR: _ClassVar[ValidationErrorCode]
CREDENTIAL_TYPE_UNSPECIFIED: CredentialType
CREDENTIAL_TYPE_API_KEY: CredentialType
CREDENTIAL_TYPE_IAM_TOKEN: CredentialType
VALIDATION_ERROR_CODE_UNSPECIFIED: ValidationErrorCode
VALIDATION_ERROR_CODE_SUCCESS: ValidationErrorCode
VALIDATION_ERROR_CODE_INVALID_API_KEY: ValidationErrorCode
VALIDATION_ERROR_CODE_SCOPE_MISMATCH: ValidationErrorCode
VALIDATION_ERROR_CODE_PERMISSION_DENIED: ValidationErrorCode
VALIDATION_ERROR_CODE_RATE_LIMIT_EXCEEDED: ValidationErrorCode
VALIDATION_ERROR_CODE_NETWORK_TIMEOUT: ValidationErrorCode
VALIDATION_ERROR_CODE_PROVIDER_ERROR: ValidationErrorCode
VALIDATION_ERROR_CODE_VALIDATION_ERROR: ValidationErrorCode

class ValidateKeyRequest(_message.Message):
    __slots__ = ("provider", "api_key", "scope", "folder_id", "base_url", "credential_type")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    FOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    provider: _common_pb2.ProviderKind
    api_key: str
    scope: str
    folder_id: str
    base_url: str
    credential_type: CredentialType
    def __init__(self, provider: _Optional[_Union[_common_pb2.ProviderKind, str]] = ..., api_key: _Optional[str] = ..., scope: _Optional[str] = ..., folder_id: _Optional[str] = ..., base_url: _Optional[str] = ..., credential_type: _Optional[_Union[CredentialType, str]] = ...) -> None: ...

class ValidationDetails(_message.Message):
    __slots__ = ("detected_scope", "request_id", "attempts", "elapsed", "tried_scopes")
    DETECTED_SCOPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    TRIED_SCOPES_FIELD_NUMBER: _ClassVar[int]
    detected_scope: str
    request_id: str
    attempts: int
    elapsed: _duration_pb2.Duration
    tried_scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, detected_scope: _Optional[str] = ..., request_id: _Optional[str] = ..., attempts: _Optional[int] = ..., elapsed: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., tried_scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class ValidateKeyResponse(_message.Message):
    __slots__ = ("valid", "error_code", "message", "retry_after", "details")
    VALID_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    error_code: ValidationErrorCode
    message: str
    retry_after: _duration_pb2.Duration
    details: ValidationDetails
    def __init__(self, valid: _Optional[bool] = ..., error_code: _Optional[_Union[ValidationErrorCode, str]] = ..., message: _Optional[str] = ..., retry_after: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., details: _Optional[_Union[ValidationDetails, _Mapping]] = ...) -> None: ...
