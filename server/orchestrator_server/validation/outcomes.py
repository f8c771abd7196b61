"""The border from a provider's answer to a ValidationCode: one default status table that
each validator may override, the transport-failure rule, and the verdict's wording.

Messages carry the provider's own detail (redacted: it may echo a key) after a fixed text
that says what the outcome means for the caller."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.redact import redact
from orchestrator_server.providers.http.errors import error_body, message_of, retry_after
from orchestrator_server.validation.types import ValidationCode as C
from orchestrator_server.validation.types import Verdict

DEFAULT_STATUS_CODES: Mapping[int, C] = {
    400: C.VALIDATION_ERROR,
    401: C.INVALID_API_KEY,
    402: C.PERMISSION_DENIED,  # billing: the key works, the account may not use it
    403: C.PERMISSION_DENIED,
    408: C.NETWORK_TIMEOUT,
    422: C.VALIDATION_ERROR,
    429: C.RATE_LIMIT_EXCEEDED,
}

MEANING: Mapping[C, str] = {
    C.SUCCESS: "the key is valid",
    C.INVALID_API_KEY: "the provider rejected the key",
    C.SCOPE_MISMATCH: "the key is valid but not for the requested scope",
    C.PERMISSION_DENIED: "the key is known but may not use this resource",
    C.RATE_LIMIT_EXCEEDED: "the provider rate-limited the check; try again later",
    C.NETWORK_TIMEOUT: "the provider did not answer in time",
    C.PROVIDER_ERROR: "the provider failed to answer usefully",
    C.VALIDATION_ERROR: "the provider found the request unusable",
}

# A body rule sees (status, decoded body) and may decide before the status table does.
BodyRule = Callable[[int, Any], C | None]


@dataclass(frozen=True, slots=True)
class StatusTable:
    statuses: Mapping[int, C] = field(default_factory=lambda: DEFAULT_STATUS_CODES)
    body_rule: BodyRule | None = None

    def code_for(self, status: int, body: Any) -> C:
        if self.body_rule is not None:
            decided = self.body_rule(status, body)
            if decided is not None:
                return decided
        code = self.statuses.get(status)
        if code is not None:
            return code
        if status == 200:
            return C.SUCCESS
        # 3xx (redirects are not followed), other 4xx (a wrong path), 5xx.
        return C.PROVIDER_ERROR


DEFAULT_TABLE = StatusTable()

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-server-trace-id", "x-goog-request-id")


def request_id_of(headers: Mapping[str, str], fallback: str = "") -> str:
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value[:128]
    return fallback


def verdict(code: C, detail: str = "", **fields: Any) -> Verdict:
    text = redact(detail.strip())
    message = f"{MEANING[code]} ({text})" if text else MEANING[code]
    return Verdict(code, message, **fields)


def from_reply(
    status: int,
    headers: Mapping[str, str],
    raw: bytes,
    table: StatusTable = DEFAULT_TABLE,
    *,
    request_id: str = "",
) -> Verdict:
    """The verdict on a non-200 reply (a 200 is judged by its validator, which knows what
    a good body looks like)."""
    body = error_body(raw)
    code = table.code_for(status, body)
    if 300 <= status < 400:
        detail = f"HTTP {status}: the endpoint redirects; validation does not follow redirects"
    else:
        text = message_of(body) if isinstance(body, dict) else ""
        detail = f"HTTP {status}: {text}" if text else f"HTTP {status}"
    return verdict(
        code,
        detail,
        retry_after=retry_after(headers) if code is C.RATE_LIMIT_EXCEEDED else None,
        request_id=request_id_of(headers, request_id),
    )


def from_transport(error: ProviderError, *, request_id: str = "") -> Verdict:
    """A failure below HTTP: a timeout is NETWORK_TIMEOUT, anything else (refused, reset,
    TLS) PROVIDER_ERROR. The shared HTTP layer's messages name no URL."""
    code = C.NETWORK_TIMEOUT if error.kind is ErrorKind.TIMEOUT else C.PROVIDER_ERROR
    return verdict(code, error.message, request_id=request_id)


def odd_body(headers: Mapping[str, str], what: str, *, request_id: str = "") -> Verdict:
    return verdict(
        C.PROVIDER_ERROR,
        f"HTTP 200 but {what}",
        request_id=request_id_of(headers, request_id),
    )
