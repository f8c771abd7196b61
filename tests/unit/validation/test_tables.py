"""The status tables: a provider's answer (status and body) to a ValidationCode, per kind."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.validation.gigachat import OAUTH_TABLE
from orchestrator_server.validation.listing import ANTHROPIC_TABLE, GEMINI_TABLE, OPENAI_TABLE
from orchestrator_server.validation.mock import RULES, mock_code
from orchestrator_server.validation.outcomes import (
    DEFAULT_TABLE,
    StatusTable,
    from_reply,
    from_transport,
)
from orchestrator_server.validation.types import ValidationCode as C

COMMON: list[tuple[int, Any, C]] = [
    (400, {}, C.VALIDATION_ERROR),
    (401, {}, C.INVALID_API_KEY),
    (402, {}, C.PERMISSION_DENIED),
    (403, {}, C.PERMISSION_DENIED),
    (404, {}, C.PROVIDER_ERROR),  # a wrong path, not a verdict on the key
    (408, {}, C.NETWORK_TIMEOUT),
    (422, {}, C.VALIDATION_ERROR),
    (429, {}, C.RATE_LIMIT_EXCEEDED),
    (301, {}, C.PROVIDER_ERROR),
    (500, {}, C.PROVIDER_ERROR),
    (503, {}, C.PROVIDER_ERROR),
    (504, {}, C.PROVIDER_ERROR),
    (529, {}, C.PROVIDER_ERROR),
]
SCOPE_TEXT = "scope from db not fully includes consumed scope"
GIGACHAT_OAUTH: list[tuple[int, Any, C]] = [
    (400, {"code": 7, "message": SCOPE_TEXT}, C.SCOPE_MISMATCH),
    (401, {"code": 7, "message": SCOPE_TEXT}, C.SCOPE_MISMATCH),  # third-party tables: 401
    (401, {"code": 6, "message": "credentials doesn't match db data"}, C.INVALID_API_KEY),
    (400, {"code": 4, "message": "Can't decode 'Authorization' header"}, C.INVALID_API_KEY),
    (401, {"code": 4, "message": "Can't decode 'Authorization' header"}, C.INVALID_API_KEY),
    (400, {"code": 5, "message": "scope is empty"}, C.VALIDATION_ERROR),
    (400, {"code": 1, "message": "scope data format invalid"}, C.VALIDATION_ERROR),
    (400, {"message": "Bad Request"}, C.INVALID_API_KEY),
    (401, "Unauthorized", C.INVALID_API_KEY),
    (403, {}, C.PERMISSION_DENIED),
    (429, {"code": 429, "message": "Too many requests"}, C.RATE_LIMIT_EXCEEDED),
    (500, {"code": 7}, C.PROVIDER_ERROR),  # a 5xx is the host's failure, whatever its body
    (502, "Bad Gateway", C.PROVIDER_ERROR),
]
OPENAI: list[tuple[int, Any, C]] = [
    (401, {"error": {"code": "invalid_api_key"}}, C.INVALID_API_KEY),
    (429, {"error": {"code": "rate_limit_exceeded", "type": "requests"}}, C.RATE_LIMIT_EXCEEDED),
    (429, {"error": {"code": "insufficient_quota"}}, C.PERMISSION_DENIED),
    (429, {"error": {"type": "insufficient_quota"}}, C.PERMISSION_DENIED),
]
GEMINI: list[tuple[int, Any, C]] = [
    (
        400,
        {"error": {"status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}},
        C.INVALID_API_KEY,
    ),
    (400, {"error": {"status": "FAILED_PRECONDITION"}}, C.PERMISSION_DENIED),
    (400, {"error": {"status": "INVALID_ARGUMENT", "details": "odd"}}, C.VALIDATION_ERROR),
    (403, {"error": {"status": "PERMISSION_DENIED"}}, C.PERMISSION_DENIED),
    (429, {"error": {"status": "RESOURCE_EXHAUSTED"}}, C.RATE_LIMIT_EXCEEDED),
]
ANTHROPIC: list[tuple[int, Any, C]] = [
    (401, {"type": "error", "error": {"type": "authentication_error"}}, C.INVALID_API_KEY),
    (403, {"type": "error", "error": {"type": "permission_error"}}, C.PERMISSION_DENIED),
    (529, {"type": "error", "error": {"type": "overloaded_error"}}, C.PROVIDER_ERROR),
]
ROWS = [
    *((DEFAULT_TABLE, "default", *row) for row in COMMON),
    *((OPENAI_TABLE, "openai", *row) for row in COMMON + OPENAI),
    *((ANTHROPIC_TABLE, "anthropic", *row) for row in COMMON + ANTHROPIC),
    *((GEMINI_TABLE, "gemini", *row) for row in COMMON + GEMINI),
    *((OAUTH_TABLE, "gigachat-oauth", *row) for row in GIGACHAT_OAUTH),
]


@pytest.mark.parametrize(
    ("table", "name", "status", "body", "code"),
    ROWS,
    ids=[f"{r[1]}-{r[2]}-{r[4].name}" for r in ROWS],
)
def test_status_table(table: StatusTable, name: str, status: int, body: Any, code: C) -> None:
    assert table.code_for(status, body) is code


def test_a_reply_verdict_says_the_status_and_the_providers_words() -> None:
    raw = b'{"error": {"message": "Incorrect API key provided"}}'
    found = from_reply(401, {"x-request-id": "req_1"}, raw, OPENAI_TABLE)
    assert found.code is C.INVALID_API_KEY
    assert found.message == "the provider rejected the key (HTTP 401: Incorrect API key provided)"
    assert found.request_id == "req_1"
    assert found.retry_after is None


def test_a_rate_limit_verdict_carries_retry_after() -> None:
    found = from_reply(429, {"retry-after-ms": "1500"}, b"{}")
    assert (found.code, found.retry_after) == (C.RATE_LIMIT_EXCEEDED, 1.5)


def test_a_redirect_says_it_was_not_followed() -> None:
    found = from_reply(302, {"location": "https://elsewhere.example/"}, b"")
    assert found.code is C.PROVIDER_ERROR
    assert "does not follow redirects" in found.message
    assert "elsewhere" not in found.message


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (ErrorKind.TIMEOUT, C.NETWORK_TIMEOUT),
        (ErrorKind.UNAVAILABLE, C.PROVIDER_ERROR),
        (ErrorKind.MALFORMED_RESPONSE, C.PROVIDER_ERROR),
    ],
)
def test_transport_failures(kind: ErrorKind, code: C) -> None:
    assert from_transport(ProviderError(kind, "cannot connect")).code is code


@pytest.mark.parametrize(("prefix", "code"), RULES)
def test_mock_rules(prefix: str, code: C) -> None:
    assert mock_code(prefix + "-1") is code
    assert mock_code("x" + prefix) is C.SUCCESS  # the start of the key decides
