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
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from orchestrator_server.domain.errors import ErrorKind, ProviderError

log = logging.getLogger(__name__)

# Streams may carry long lines (a large JSON chunk on one `data:` line).
_READ_BUFSIZE = 1 << 20
# The default cap on a whole reply (a batch of embeddings is the largest legitimate one).
DEFAULT_MAX_REPLY_BYTES = 8 << 20
_READ_CHUNK = 64 << 10


# Headers to add to every outgoing request, from the caller's context: telemetry sets it to
# put the current trace context (`traceparent`) on provider requests while tracing is on.
# None, the default, costs nothing per request.
HeadersHook = Callable[[], Mapping[str, str] | None]
_context_headers: HeadersHook | None = None


def set_context_headers(hook: HeadersHook | None) -> None:
    global _context_headers
    _context_headers = hook


def _with_context_headers(headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
    hook = _context_headers
    if hook is None:
        return headers
    extra = hook()
    if not extra:
        return headers
    return {**headers, **extra} if headers else extra


@dataclass(frozen=True, slots=True)
class TlsOptions:
    verify: bool = True
    ca_bundle: Path | None = None


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


def ssl_context(tls: TlsOptions, provider: str) -> ssl.SSLContext | bool:
    if not tls.verify:
        log.warning(
            "provider %s: TLS certificate verification is OFF (verify_ssl: false); "
            "anyone on the network path can read its traffic and keys",
            provider,
        )
        return False
    context = ssl.create_default_context()
    if tls.ca_bundle is not None:
        context.load_verify_locations(cafile=str(tls.ca_bundle))
    return context


class HttpClient:
    """A provider's connection pool. Created lazily inside the running loop; closed once."""

    def __init__(
        self,
        provider: str,
        *,
        tls: TlsOptions = TlsOptions(),
        max_connections: int = 100,
        headers: Mapping[str, str] | None = None,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
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
                headers=_with_context_headers(headers),
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
                headers=_with_context_headers(headers),
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

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def reply_too_large(limit: int) -> ProviderError:
    return ProviderError(
        ErrorKind.MALFORMED_RESPONSE,
        f"upstream reply is larger than max_reply_bytes ({limit} bytes); not read",
    )


def _why(exc: aiohttp.ClientConnectorError) -> str:
    """The connect failure's kind in words (the OS error, not the address)."""
    cause = exc.os_error
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused (nothing listens there?)"
    if isinstance(cause, TimeoutError):
        return "connect timed out"
    reason = getattr(cause, "strerror", None) or type(cause).__name__
    return str(reason).lower()


def transport_error(exc: BaseException) -> ProviderError:
    """The error table for failures below HTTP. Messages name the class, never the URL
    (it may carry a key in its query)."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ProviderError(ErrorKind.TIMEOUT, "cannot connect to the upstream: connect timed out")
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return ProviderError(ErrorKind.TIMEOUT, "upstream did not answer in time")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return ProviderError(
            ErrorKind.UNAVAILABLE, "TLS verification of the upstream failed (see ca_bundle)"
        )
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ProviderError(
            ErrorKind.UNAVAILABLE, "cannot connect to the upstream: its host name does not resolve"
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ProviderError(ErrorKind.UNAVAILABLE, f"cannot connect to the upstream: {_why(exc)}")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return ProviderError(ErrorKind.UNAVAILABLE, "upstream closed the connection mid-reply")
    return ProviderError(ErrorKind.UNAVAILABLE, f"upstream transport error ({type(exc).__name__})")
