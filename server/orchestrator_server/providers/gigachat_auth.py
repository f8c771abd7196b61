"""GigaChat's OAuth2 access tokens: fetched with the Basic authorization key, cached until
shortly before they expire, and fetched once however many requests need one at the same time
(the OAuth endpoint allows about 10 requests per second)."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.http.client import HttpClient
from orchestrator_server.providers.http.errors import (
    error_body,
    http_error,
    kind_for_status,
    message_of,
    retry_after,
)

# Used when a token reply carries no usable expiry; the documented lifetime is 30 minutes,
# and an early expiry is still caught by the 401 refresh.
DEFAULT_LIFETIME_S = 1800.0
# Epoch values at or above this are milliseconds (13 digits today); below, seconds.
_MS_THRESHOLD = 1e12
# The OAuth host's body `code` decides, not its HTTP status (code 7 comes as 400 or 401).
SCOPE_MISMATCH = 7


def expiry_seconds(value: Any, now: float) -> float:
    """A token expiry as epoch seconds, from milliseconds (documented) or seconds (seen in
    a docs example and in the `exp` form), or a default lifetime when it is unusable."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return now + DEFAULT_LIFETIME_S
    try:
        number = float(value)
    except ValueError:
        return now + DEFAULT_LIFETIME_S
    if not math.isfinite(number) or number <= 0:
        return now + DEFAULT_LIFETIME_S
    return number / 1000.0 if number >= _MS_THRESHOLD else number


def parse_token(body: Any, now: float) -> tuple[str, float]:
    """(access token, expiry in epoch seconds) from `{"access_token", "expires_at"}` or the
    older `{"tok", "exp"}` shape."""
    if isinstance(body, dict):
        token = body.get("access_token") or body.get("tok")
        expiry = body.get("expires_at", body.get("exp"))
        if isinstance(token, str) and token:
            return token, expiry_seconds(expiry, now)
    raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "GigaChat OAuth reply has no access token")


def oauth_error(status: int, headers: Mapping[str, str], body: Any) -> ProviderError:
    """The OAuth host's error table. Any 4xx other than 429 means this provider cannot
    authenticate as configured: never the caller's fault, so never INVALID_REQUEST.
    Code 7 (the key is valid but not entitled to the configured scope) is PERMISSION, so
    an operator looks at `scope`, not at the key; like AUTH it is neither retried nor
    counted as the caller's error."""
    code = body.get("code") if isinstance(body, dict) else None
    message = message_of(body)
    if status == 429:
        kind = ErrorKind.RATE_LIMITED
    elif status >= 500:
        kind = kind_for_status(status)
    elif code == SCOPE_MISMATCH:
        kind = ErrorKind.PERMISSION
        message = f"the key does not cover the configured scope ({message})"
    elif 400 <= status < 500:
        kind = ErrorKind.AUTH
    else:
        kind = ErrorKind.MALFORMED_RESPONSE
    detail = f"token request failed (code {code}): {message}" if code is not None else message
    return http_error(
        kind, status, detail or "token request failed", retry_after_s=retry_after(headers)
    )


class TokenManager:
    """Hands out a current access token. `clock` is wall-clock epoch seconds (expiries are
    absolute); tests replace it to expire tokens without waiting."""

    def __init__(
        self,
        client: HttpClient,
        *,
        auth_url: str,
        key: str | None,
        scope: str,
        margin: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self._client = client
        self._auth_url = auth_url
        self._key = key
        self._scope = scope
        self._margin = margin
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._fetched_at = 0.0
        self._expires_at = 0.0
        self._finished = 0  # fetches finished, so a waiter can tell one ended meanwhile
        self._failure: ProviderError | None = None  # the last fetch's error, if it failed

    def _current(self) -> str | None:
        if self._token is None:
            return None
        # A lifetime shorter than the margin would otherwise make every token stale at once.
        margin = min(self._margin, (self._expires_at - self._fetched_at) / 2)
        return self._token if self.clock() < self._expires_at - margin else None

    async def token(self, *, timeout: float) -> str:
        token = self._current()
        if token is not None:
            return token
        seen = self._finished
        async with self._lock:
            token = self._current()
            if token is not None:
                return token
            failure = self._failure
            if self._finished != seen and failure is not None:
                # The fetch this caller queued behind failed: share its verdict rather
                # than send the OAuth host one more doomed request per waiter.
                raise ProviderError(
                    failure.kind,
                    failure.message,
                    retry_after=failure.retry_after,
                    http_status=failure.http_status,
                )
            self._failure = None
            try:
                return await self._fetch(timeout)
            except ProviderError as exc:
                self._failure = exc
                raise
            finally:
                self._finished += 1

    def invalidate(self, token: str) -> None:
        """Forget `token` after the API rejected it; a token fetched since is kept, so many
        requests rejected at once cause one refresh."""
        if self._token == token:
            self._token = None

    async def _fetch(self, timeout: float) -> str:
        if not self._key:
            raise ProviderError(ErrorKind.AUTH, "no GigaChat authorization key configured")
        reply = await self._client.request(
            "POST",
            self._auth_url,
            data={"scope": self._scope},
            headers={
                "Authorization": f"Basic {self._key}",
                "RqUID": str(uuid.uuid4()),
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            timeout=timeout,
        )
        if reply.status != 200:
            raise oauth_error(reply.status, reply.headers, error_body(reply.body))
        now = self.clock()
        token, expires_at = parse_token(reply.json(), now)
        self._token, self._fetched_at, self._expires_at = token, now, expires_at
        return token
