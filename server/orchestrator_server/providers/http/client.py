"""One pooled aiohttp session per provider, and the transport-level error table.

Transport failures (connection refused, reset, TLS, timeouts) become ProviderError here;
HTTP statuses are left to each adapter's own table, because their meaning differs by
provider (a 429 may be a quota, a 400 may be a bad key).

Two rules hold for every provider call because they are made here, once:
- Redirects are never followed. A 3xx comes back as the reply it is (each adapter's table
  makes it an error naming the status): following one would send the provider's key
  header to wherever the `Location` points (aiohttp drops only `Authorization` across
  hosts), and return another host's body as the answer.
- A whole-body read stops at `max_reply_bytes`: a larger reply is refused, by its
  Content-Length before reading anything, or as soon as the bytes read pass the cap.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.http.tls import DEFAULT_TLS, TlsOptions, ssl_context

log = logging.getLogger(__name__)

# Streams may carry long lines (a large JSON chunk on one `data:` line).
_READ_BUFSIZE = 1 << 20
# The default cap on a whole reply (a batch of embeddings is the largest legitimate one).
DEFAULT_MAX_REPLY_BYTES = 8 << 20
_READ_CHUNK = 64 << 10


# Headers to add to a client's every request, from the caller's context (telemetry's puts
# the current trace context, `traceparent`, on provider requests while tracing is on).
HeadersHook = Callable[[], Mapping[str, str] | None]


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; None when empty. Raises MALFORMED_RESPONSE when unparsable."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise ProviderError(
                ErrorKind.MALFORMED_RESPONSE, f"upstream answered {self.status} with invalid JSON"
            ) from None


def _json_utf8(value: Any) -> str:
    # Raw UTF-8 like the official SDKs: \uXXXX escapes make Cyrillic or CJK prompts about
    # three times larger on the wire.
    return json.dumps(value, ensure_ascii=False)


class HttpClient:
    """A provider's connection pool. Created lazily inside the running loop; closed once.
    `context_headers`, injected by whoever builds the client, adds headers from the caller's
    context to each request; None, the default, costs nothing per request."""

    def __init__(
        self,
        provider: str,
        *,
        tls: TlsOptions = DEFAULT_TLS,
        max_connections: int = 100,
        headers: Mapping[str, str] | None = None,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        context_headers: HeadersHook | None = None,
    ) -> None:
        self.context_headers = context_headers
        self._provider = provider
        self.max_reply_bytes = max_reply_bytes
        self._ssl = ssl_context(tls, provider)
        self._max_connections = max_connections
        self._headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, ssl=self._ssl, enable_cleanup_closed=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                read_bufsize=_READ_BUFSIZE,
                raise_for_status=False,
                json_serialize=_json_utf8,
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        json_body: Any = None,
        data: Mapping[str, str] | aiohttp.FormData | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> HttpReply:
        """A whole request and its body (at most `max_reply_bytes`), within `timeout`
        seconds. A 3xx comes back as it is: redirects are not followed."""
        try:
            async with self.session.request(
                method,
                url,
                json=json_body,
                data=data,
                headers=self._with_context_headers(headers),
                params=params,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                body = await self.read_body(response)
                return HttpReply(response.status, response.headers, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error(exc) from None

    async def read_body(self, response: aiohttp.ClientResponse) -> bytes:
        """The whole body of `response`, or MALFORMED_RESPONSE (and the connection closed)
        when it is larger than `max_reply_bytes`."""
        limit = self.max_reply_bytes
        length = response.content_length
        if length is not None and length > limit:
            response.close()
            raise reply_too_large(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                response.close()
                raise reply_too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """An open response whose body the caller reads. Leaving the block (normally, by an
        error or by cancellation) releases the connection; an unfinished body is dropped
        with it, which closes the upstream request."""
        try:
            response = await self.session.request(
                method,
                url,
                json=json_body,
                headers=self._with_context_headers(headers),
                params=params,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error(exc) from None
        try:
            yield response
        except (aiohttp.ClientError, TimeoutError) as exc:
            response.close()
            raise transport_error(exc) from None
        except BaseException:
            response.close()  # abandoned mid-body: close the connection, do not reuse it
            raise
        else:
            response.release()

    def _with_context_headers(self, headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
        hook = self.context_headers
        if hook is None:
            return headers
        extra = hook()
        if not extra:
            return headers
        return {**headers, **extra} if headers else extra

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def reply_too_large(limit: int) -> ProviderError:
    return ProviderError(
        ErrorKind.MALFORMED_RESPONSE,
        f"upstream reply is larger than max_reply_bytes ({limit} bytes); not read",
    )


def _refused(exc: BaseException) -> str:
    """A connect failure's kind in words (the OS error, not the address)."""
    cause = getattr(exc, "os_error", None)
    if isinstance(cause, ConnectionRefusedError):
        why = "connection refused (nothing listens there?)"
    elif isinstance(cause, TimeoutError):
        why = "connect timed out"
    else:
        why = str(getattr(cause, "strerror", None) or type(cause).__name__).lower()
    return f"cannot connect to the upstream: {why}"


_TLS_FAILED = "TLS verification of the upstream failed (see ca_bundle)"
_CUT = "upstream closed the connection mid-reply"

# The error table for failures below HTTP, looked up along the exception's MRO (the most
# specific class wins: a certificate error is a connector error too). A row's message is
# text, or made from the exception; either names what happened, never the URL (it may carry
# a key in its query).
TRANSPORT_ERRORS: Mapping[
    type[BaseException], tuple[ErrorKind, str | Callable[[BaseException], str]]
] = {
    aiohttp.ConnectionTimeoutError: (
        ErrorKind.TIMEOUT,
        "cannot connect to the upstream: connect timed out",
    ),
    TimeoutError: (ErrorKind.TIMEOUT, "upstream did not answer in time"),
    aiohttp.ServerTimeoutError: (ErrorKind.TIMEOUT, "upstream did not answer in time"),
    aiohttp.ClientConnectorCertificateError: (ErrorKind.UNAVAILABLE, _TLS_FAILED),
    aiohttp.ClientSSLError: (ErrorKind.UNAVAILABLE, _TLS_FAILED),
    aiohttp.ClientConnectorDNSError: (
        ErrorKind.UNAVAILABLE,
        "cannot connect to the upstream: its host name does not resolve",
    ),
    aiohttp.ClientConnectorError: (ErrorKind.UNAVAILABLE, _refused),
    aiohttp.ServerDisconnectedError: (ErrorKind.UNAVAILABLE, _CUT),
    aiohttp.ClientPayloadError: (ErrorKind.UNAVAILABLE, _CUT),
}


def transport_error(exc: BaseException) -> ProviderError:
    """The ProviderError for a failure below HTTP, from TRANSPORT_ERRORS; any other
    transport failure is UNAVAILABLE, named by its class."""
    for cls in type(exc).__mro__:
        row = TRANSPORT_ERRORS.get(cls)
        if row is not None:
            kind, message = row
            return ProviderError(kind, message if isinstance(message, str) else message(exc))
    return ProviderError(ErrorKind.UNAVAILABLE, f"upstream transport error ({type(exc).__name__})")
