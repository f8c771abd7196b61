"""What a key check is asked, and what it answers."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ValidationCode(enum.Enum):
    """Outcome classes; the names are the proto's ValidationErrorCode without its prefix."""

    SUCCESS = "success"
    INVALID_API_KEY = "invalid_api_key"
    SCOPE_MISMATCH = "scope_mismatch"
    PERMISSION_DENIED = "permission_denied"
    RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
    NETWORK_TIMEOUT = "network_timeout"
    PROVIDER_ERROR = "provider_error"
    VALIDATION_ERROR = "validation_error"


class Credential(enum.Enum):
    DEFAULT = "default"  # the kind's usual key
    API_KEY = "api-key"
    IAM_TOKEN = "iam-token"  # Yandex: Authorization: Bearer <IAM token>
    UNKNOWN = "unknown"  # a value the caller's client knows and this server does not


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """One ValidateKey request in domain terms. `kind` is a config kind name ("openai", ...)
    or "" when the caller named none. The key is kept out of repr, so no log or traceback
    that prints a KeyCheck shows it."""

    kind: str
    api_key: str = field(repr=False)
    scope: str = ""
    folder_id: str = ""
    base_url: str = ""
    credential: Credential = Credential.DEFAULT


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer. A rejected key is a verdict (valid=False), not an exception."""

    code: ValidationCode
    message: str
    retry_after: float | None = None
    request_id: str = ""
    detected_scope: str = ""
    tried_scopes: tuple[str, ...] = ()
    attempts: int = 1
    elapsed: float = 0.0

    @property
    def valid(self) -> bool:
        return self.code is ValidationCode.SUCCESS
