"""The shared HTTP pieces: stream readers, Retry-After parsing, status and transport tables."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.http.client import transport_error
from orchestrator_server.providers.http.errors import (
    error_body,
    http_error,
    kind_for_status,
    message_of,
    retry_after,
)
from orchestrator_server.providers.http.streams import SseEvent, read_ndjson, read_sse


async def lines(*raw: bytes) -> AsyncIterator[bytes]:
    """What aiohttp's `async for line in response.content` yields: lines with their \\n."""
    for item in raw:
        yield item


async def events(*raw: bytes) -> list[SseEvent]:
    return [e async for e in read_sse(lines(*raw))]


async def test_sse_with_and_without_space_crlf_and_comments() -> None:
    got = await events(
        b": keep-alive comment\n",
        b"data: one\r\n",
        b"\r\n",
        b"data:two\n",
        b"\n",
        b"event: message_delta\n",
        b'data: {"a": 1}\n',
        b"\n",
    )
    assert got == [SseEvent("", "one"), SseEvent("", "two"), SseEvent("message_delta", '{"a": 1}')]


async def test_sse_joins_multi_line_data_and_flushes_the_last_event() -> None:
    got = await events(b"data: first\n", b"data: second\n", b"\n", b"data: tail-without-blank\n")
    assert got == [SseEvent("", "first\nsecond"), SseEvent("", "tail-without-blank")]


async def test_sse_ignores_id_and_retry_fields() -> None:
    assert await events(b"id: 7\n", b"retry: 1000\n", b"data: x\n", b"\n") == [SseEvent("", "x")]


async def test_sse_rejects_non_utf8() -> None:
    with pytest.raises(ProviderError) as caught:
        await events(b"data: \xff\xfe\n", b"\n")
    assert caught.value.kind is ErrorKind.MALFORMED_RESPONSE


async def test_ndjson_skips_blank_lines_and_rejects_garbage() -> None:
    got = [v async for v in read_ndjson(lines(b'{"a": 1}\n', b"\r\n", b'{"b": 2}\r\n'))]
    assert got == [{"a": 1}, {"b": 2}]
    with pytest.raises(ProviderError) as caught:
        _ = [v async for v in read_ndjson(lines(b"{not json\n"))]
    assert caught.value.kind is ErrorKind.MALFORMED_RESPONSE


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise one wins
        ({"retry-after": "Thu, 01 Jan 2026 00:00:30 GMT"}, 30.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    now = 1767225600.0  # 2026-01-01T00:00:00Z
    assert retry_after(headers, now=now) == expected


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ErrorKind.INVALID_REQUEST),
        (401, ErrorKind.AUTH),
        (402, ErrorKind.QUOTA),
        (403, ErrorKind.PERMISSION),
        (404, ErrorKind.NOT_FOUND),
        (418, ErrorKind.INVALID_REQUEST),
        (429, ErrorKind.RATE_LIMITED),
        (500, ErrorKind.UNAVAILABLE),
        (529, ErrorKind.UNAVAILABLE),
        (504, ErrorKind.TIMEOUT),
    ],
)
def test_default_status_table(status: int, kind: ErrorKind) -> None:
    assert kind_for_status(status) is kind


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": {"message": "nested"}}, "nested"),
        ({"error": "flat"}, "flat"),
        ({"message": "top"}, "top"),
        ("plain text", "plain text"),
        ([1, 2], ""),
    ],
)
def test_message_of_known_shapes(body: object, message: str) -> None:
    assert message_of(body) == message


def test_error_body_falls_back_to_text() -> None:
    assert error_body(b'{"a": 1}') == {"a": 1}
    assert error_body(b"<html>bad gateway</html>") == "<html>bad gateway</html>"


def test_http_error_redacts_keys() -> None:
    error = http_error(
        ErrorKind.AUTH, 401, "invalid key: Bearer sk-live-abcdefghijklmnopqrstuvwxyz123456"
    )
    assert error.message.startswith("upstream answered 401")
    assert "sk-live" not in error.message
    assert error.http_status == 401


_KEY = ConnectionKey("api.example", 443, True, True, None, None, None)
_CONNECT = (_KEY, OSError(111, "refused"))


@pytest.mark.parametrize(
    ("exc", "kind", "says"),
    [
        (TimeoutError(), ErrorKind.TIMEOUT, "did not answer in time"),
        (aiohttp.ServerTimeoutError(), ErrorKind.TIMEOUT, "did not answer in time"),
        (aiohttp.ConnectionTimeoutError(), ErrorKind.TIMEOUT, "connect timed out"),
        (
            aiohttp.ClientConnectorCertificateError(_KEY, ssl.SSLCertVerificationError()),
            ErrorKind.UNAVAILABLE,
            "TLS verification",
        ),
        (aiohttp.ClientConnectorSSLError(*_CONNECT), ErrorKind.UNAVAILABLE, "TLS verification"),
        (aiohttp.ClientConnectorError(*_CONNECT), ErrorKind.UNAVAILABLE, "connection refused"),
        (
            aiohttp.ClientConnectorDNSError(_KEY, OSError(-2, "Name or service not known")),
            ErrorKind.UNAVAILABLE,
            "its host name does not resolve",
        ),
        (aiohttp.ServerDisconnectedError(), ErrorKind.UNAVAILABLE, "closed the connection"),
        (aiohttp.ClientPayloadError("cut"), ErrorKind.UNAVAILABLE, "closed the connection"),
        (aiohttp.ClientError("other"), ErrorKind.UNAVAILABLE, "transport error (ClientError)"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_transport_error_table(exc: BaseException, kind: ErrorKind, says: str) -> None:
    error = transport_error(exc)
    assert error.kind is kind
    assert says in error.message
    assert "api.example" not in error.message  # never the URL
