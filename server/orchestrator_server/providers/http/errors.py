"""Pieces each adapter's HTTP error table is built from."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

from orchestrator_server.domain.errors import ErrorKind, ProviderError

# The usual meaning of a status; an adapter overrides rows where its provider differs.
DEFAULT_STATUS_KINDS: Mapping[int, ErrorKind] = {
    400: ErrorKind.INVALID_REQUEST,
    401: ErrorKind.AUTH,
    402: ErrorKind.QUOTA,
    403: ErrorKind.PERMISSION,
    404: ErrorKind.NOT_FOUND,
    408: ErrorKind.TIMEOUT,
    409: ErrorKind.UNAVAILABLE,
    413: ErrorKind.INVALID_REQUEST,
    422: ErrorKind.INVALID_REQUEST,
    429: ErrorKind.RATE_LIMITED,
    504: ErrorKind.TIMEOUT,
    529: ErrorKind.UNAVAILABLE,  # Anthropic "overloaded": retry, or fail over
}


def kind_for_status(
    status: int, table: Mapping[int, ErrorKind] = DEFAULT_STATUS_KINDS
) -> ErrorKind:
    kind = table.get(status)
    if kind is not None:
        return kind
    if status >= 500:
        return ErrorKind.UNAVAILABLE
    return ErrorKind.INVALID_REQUEST if 400 <= status < 500 else ErrorKind.MALFORMED_RESPONSE


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_body(body: bytes) -> Any:
    """An error reply's body: its JSON when it parses, else the start of its text."""
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:500]


def message_of(body: Any) -> str:
    """The human part of an error body, from the shapes providers use:
    {"error": {"message": ...}}, {"error": "..."}, {"message": ...}, or plain text."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return str(body["message"])
    if isinstance(body, str):
        return body
    return ""


def http_error(
    kind: ErrorKind,
    status: int | None,
    detail: str = "",
    *,
    retry_after_s: float | None = None,
) -> ProviderError:
    """A ProviderError saying the status and the provider's own (redacted) detail."""
    prefix = f"upstream answered {status}" if status is not None else "upstream reported an error"
    if status is not None and 300 <= status < 400:
        prefix += " (a redirect; provider calls never follow one: check base_url)"
    text = detail.strip()
    return ProviderError(
        kind,
        f"{prefix}: {text}" if text else prefix,
        retry_after=retry_after_s,
        http_status=status,
    )
