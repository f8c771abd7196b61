"""Errors of the domain. Providers raise ProviderError; the router raises GatewayError
subclasses; the API layer maps each GatewayError class to one gRPC status (api/errors.py)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator_server.domain.redact import redact

if TYPE_CHECKING:
    from orchestrator_server.domain.attempts import Attempt


class ErrorKind(enum.Enum):
    """Why a provider call failed. The value is the `error_code` callers see in attempts."""

    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"  # connection errors, 5xx, overloaded
    AUTH = "auth"  # 401: bad or expired key
    PERMISSION = "permission"  # 403
    QUOTA = "quota"  # 402, billing/quota 429: waiting does not help
    INVALID_REQUEST = "invalid_request"  # the request itself was rejected (caller's fault)
    NOT_FOUND = "not_found"  # unknown model at the provider
    MALFORMED_RESPONSE = "malformed_response"  # unparsable or incomplete upstream reply
    # The provider's model cannot do what the request needs (tools, images), though the kind
    # can: another provider may.
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class ErrorPolicy:
    retry: bool  # worth another call to the same provider
    fallback: bool  # worth trying the next provider
    counts_against_health: bool  # the provider's fault, so it feeds health and circuit breaker


ERROR_POLICY: dict[ErrorKind, ErrorPolicy] = {
    ErrorKind.TIMEOUT: ErrorPolicy(retry=True, fallback=True, counts_against_health=True),
    ErrorKind.RATE_LIMITED: ErrorPolicy(retry=True, fallback=True, counts_against_health=True),
    ErrorKind.UNAVAILABLE: ErrorPolicy(retry=True, fallback=True, counts_against_health=True),
    ErrorKind.AUTH: ErrorPolicy(retry=False, fallback=True, counts_against_health=True),
    ErrorKind.PERMISSION: ErrorPolicy(retry=False, fallback=True, counts_against_health=True),
    ErrorKind.QUOTA: ErrorPolicy(retry=False, fallback=True, counts_against_health=True),
    ErrorKind.INVALID_REQUEST: ErrorPolicy(
        retry=False, fallback=False, counts_against_health=False
    ),
    # A caller's typo in a model name must not open the provider's circuit for everyone.
    ErrorKind.NOT_FOUND: ErrorPolicy(retry=False, fallback=True, counts_against_health=False),
    ErrorKind.MALFORMED_RESPONSE: ErrorPolicy(
        retry=True, fallback=True, counts_against_health=True
    ),
    ErrorKind.UNSUPPORTED: ErrorPolicy(retry=False, fallback=True, counts_against_health=False),
}


class ProviderError(Exception):
    """A failed provider call. Its message is redacted here, once, so every consumer (the
    attempt trail, GetMetrics' last error, logs, gRPC details) can show it as it is.
    Adapters still keep raw bodies and URLs out of it; redaction is the safety net."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        retry_after: float | None = None,
        http_status: int | None = None,
    ) -> None:
        message = redact(message)
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.http_status = http_status

    @property
    def policy(self) -> ErrorPolicy:
        return ERROR_POLICY[self.kind]


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str  # path in the request, e.g. "messages[2].content" or "params.temperature"
    description: str


class GatewayError(Exception):
    """Base of the errors the API layer turns into gRPC statuses. `partial`: a stream had
    sent text before this ended it, so what the caller holds is incomplete."""

    def __init__(
        self, message: str, attempts: tuple[Attempt, ...] = (), *, partial: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.partial = partial


class InvalidRequest(GatewayError):
    def __init__(self, violations: list[FieldViolation]) -> None:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
        super().__init__(f"invalid request: {summary}")
        self.violations = tuple(violations)


class UnsupportedFeature(InvalidRequest):
    """No candidate provider can honour what the request asks (tools, a schema, images);
    found before any provider is called."""

    def __init__(self, violations: list[FieldViolation], features: tuple[str, ...]) -> None:
        super().__init__(violations)
        self.features = features


class NotFound(GatewayError):
    """An unknown provider, model, alias or collection named by the caller. `listing` says
    what exists instead; it is dropped (`unlisted`) for a key that may not see all of it.
    `hint` says where the caller can look it up, to every caller; `attempts` are the calls
    that found out (every provider asked said it does not know the model)."""

    def __init__(
        self,
        message: str,
        *,
        field: str,
        resource_type: str,
        name: str,
        listing: str = "",
        hint: str = "",
        attempts: tuple[Attempt, ...] = (),
    ) -> None:
        super().__init__("; ".join(p for p in (message, listing, hint) if p), attempts)
        self.field = field
        self.resource_type = resource_type
        self.name = name
        self._unlisted = message
        self._hint = hint

    def unlisted(self) -> NotFound:
        return NotFound(
            self._unlisted,
            field=self.field,
            resource_type=self.resource_type,
            name=self.name,
            hint=self._hint,
            attempts=self.attempts,
        )


class ProviderRejectedRequest(GatewayError):
    """A provider judged the request itself invalid; other providers would too, so no fallback."""


class AllProvidersFailed(GatewayError):
    """Every candidate failed (or was skipped); the attempts say how."""

    def __init__(
        self, message: str, attempts: tuple[Attempt, ...], *, retry_after: float | None = None
    ) -> None:
        super().__init__(message, attempts)
        self.retry_after = retry_after


class AllRateLimited(AllProvidersFailed):
    """Every candidate failed because it was rate-limited or out of quota."""


class StreamInterrupted(GatewayError):
    """A stream failed after text had been sent; the caller holds partial output."""

    def __init__(self, message: str, attempts: tuple[Attempt, ...] = ()) -> None:
        super().__init__(message, attempts, partial=True)


class DeadlineExceeded(GatewayError):
    """The caller's deadline (or the server's request time limit) ran out; `partial` when a
    stream had sent text by then."""


class ServerShuttingDown(GatewayError):
    """The server's shutdown grace ran out before the call ended; `partial` when a stream
    had sent text by then."""


class GatewayRateLimited(GatewayError):
    """One of the gateway's own limits (not a provider's) was reached, e.g. ValidateKey's."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigRejected(GatewayError):
    """A new configuration that failed validation or could not be built; nothing changed.
    Each problem starts with the key path (`providers[1].model: Field required`)."""

    def __init__(self, source: str, problems: list[str], *, field: str) -> None:
        super().__init__(f"configuration rejected ({source}): " + "; ".join(problems))
        self.source = source
        self.problems = tuple(problems)
        self.field = field  # the request field that carried the configuration


class ConfigFileRejected(ConfigRejected):
    """The server's own configuration file is unusable (or there is none): the request was
    fine, the server's state is not."""


class ConfigNotPermitted(ConfigRejected):
    """A configuration applied at run time (AdminService) that would send a secret of the
    server somewhere the configuration file does not, or change what only the file may
    change. Nothing changed; each problem names the key path."""


class Unauthenticated(GatewayError):
    """The caller did not present the credentials a service requires."""

    code = "unauthenticated"  # a metric label: which failure it was


class ApiKeyMissing(Unauthenticated):
    code = "api_key_missing"


class ApiKeyInvalid(Unauthenticated):
    code = "api_key_invalid"


class ApiKeyExpired(Unauthenticated):
    code = "api_key_expired"


class PermissionDenied(GatewayError):
    """An authenticated caller asked for something outside its key's `models`; the
    subclass says what (its status row's ErrorInfo reason)."""

    code = "permission_denied"


class ModelNotAllowed(PermissionDenied):
    code = "model_not_allowed"


class AliasNotAllowed(PermissionDenied):
    code = "alias_not_allowed"


class ProviderNotAllowed(PermissionDenied):
    code = "provider_not_allowed"


class CollectionUnavailable(GatewayError):
    """A configured collection that cannot serve: its index failed to load, or its embedder
    no longer matches the index. Retrying will not help until an operator fixes it."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name
