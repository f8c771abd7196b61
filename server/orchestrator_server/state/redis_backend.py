"""The Redis backend: limits and cached replies shared by every replica, through redis.asyncio.

Each admission, settlement and read is one Lua script call (redis_scripts.py), so all checks
of a call are applied together or not at all, whichever replica sends them."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from orchestrator_server.config.state import RedisConfig
from orchestrator_server.state.cached import CachedResponse, UnreadableEntry
from orchestrator_server.state.memory import BUDGET_KEEP, CONCURRENCY_HINT
from orchestrator_server.state.redis_scripts import ADMIT, READ, SETTLE
from orchestrator_server.state.types import (
    BUDGET,
    CONCURRENCY,
    RPM,
    TPM,
    WINDOW,
    Check,
    CheckState,
    Denial,
    Settlement,
)

WINDOW_MS = int(WINDOW * 1000)
HINT_MS = int(CONCURRENCY_HINT * 1000)
SETTLED_MS = 60_000  # a settled budget hold is remembered this long, against repeats
_KIND = {
    RPM: "rpm",
    TPM: "tpm",
    CONCURRENCY: "conc",
    BUDGET: "budget",
}


class RedisSecretMissing(ValueError):
    """`state.redis.password_env` names a variable that is not set."""


def connect(config: RedisConfig, environ: Mapping[str, str] | None = None) -> Redis:
    """A client that fails fast: every call and connect bounded by `config.timeout`, one
    immediate retry on a broken connection (a pooled socket the server closed), none on a
    timeout; scripts are idempotent, so the retry cannot apply a call twice. It reconnects by
    itself on the next call once Redis is back."""
    environ = os.environ if environ is None else environ
    password = None
    if config.password_env is not None:
        password = environ.get(config.password_env)
        if not password:
            raise RedisSecretMissing(
                f"state.redis.password_env: the variable {config.password_env} is not set"
            )
    url = config.url
    options: dict[str, object] = {}
    if config.use_tls:
        url = "rediss:" + url.split(":", 1)[1]
        if config.ca_file is not None:
            options["ssl_ca_certs"] = str(config.ca_file)
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=config.max_connections,
        timeout=config.timeout,  # waiting for a pooled connection
        socket_timeout=config.timeout,
        socket_connect_timeout=config.timeout,
        password=password,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        **options,
    )
    return Redis(connection_pool=pool)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class RedisLimitBackend:
    remote = True

    def __init__(self, client: Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._admit = client.register_script(ADMIT)
        self._settle = client.register_script(SETTLE)
        self._read = client.register_script(READ)

    def _keys(self, check: Check) -> list[str]:
        name = self._prefix + check.storage
        if check.kind is TPM:
            return [name, name + ":v"]
        if check.kind is BUDGET:
            return [name, name + ":r"]
        return [name]

    @staticmethod
    def _reset_and_keep(check: Check, now: float | None) -> tuple[int, int]:
        if check.period is None:
            return 0, 0
        # The period's end is calendar time; this replica's clock names it (a skew of a few
        # milliseconds moves the boundary by as much, nothing else).
        left = check.period.ends_at - (time.time() if now is None else now)
        return max(0, _ms(left)), max(1, _ms(left + BUDGET_KEEP))

    async def admit(
        self, rid: str, checks: Sequence[Check], lease: float, now: float | None
    ) -> Denial | None:
        keys: list[str] = []
        args: list[str | int] = ["" if now is None else _ms(now), rid, max(1, _ms(lease))]
        args += [WINDOW_MS, HINT_MS]
        for check in checks:
            keys += self._keys(check)
            reset, keep = self._reset_and_keep(check, now)
            args += [_KIND[check.kind], check.limit, check.amount, reset, keep]
        reply = await self._admit(keys, args)
        if int(reply[0]) == 1:
            return None
        return Denial(checks[int(reply[1]) - 1], int(reply[2]) / 1000)

    async def settle(self, rid: str, settlements: Sequence[Settlement], now: float | None) -> None:
        if not settlements:
            return
        keys: list[str] = []
        args: list[str | int] = ["" if now is None else _ms(now), rid, WINDOW_MS, SETTLED_MS]
        for settlement in settlements:
            check = settlement.check
            keys += self._keys(check)
            args += [_KIND[check.kind], settlement.amount, self._reset_and_keep(check, now)[1]]
        await self._settle(keys, args)

    async def read(self, checks: Sequence[Check], now: float | None) -> list[CheckState]:
        keys: list[str] = []
        args: list[str | int] = ["" if now is None else _ms(now), WINDOW_MS]
        for check in checks:
            keys += self._keys(check)
            args.append(_KIND[check.kind])
        reply = await self._read(keys, args)
        return [
            CheckState(check, int(reply[2 * i]), int(reply[2 * i + 1]))
            for i, check in enumerate(checks)
        ]

    async def ping(self) -> None:
        await self._client.ping()

    async def aclose(self) -> None:
        await self._client.aclose()


class RedisCacheStore:
    """Replies as JSON strings with a Redis expiry; Redis's own memory policy bounds them."""

    remote = True

    def __init__(self, client: Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix + "cache:"

    async def get(self, key: str) -> CachedResponse | None:
        data = await self._client.get(self._prefix + key)
        if data is None:
            return None
        try:
            return CachedResponse.from_bytes(data if isinstance(data, bytes) else data.encode())
        except UnreadableEntry:
            return None

    async def put(self, key: str, response: CachedResponse, ttl: float) -> None:
        await self._client.set(self._prefix + key, response.to_bytes(), px=max(1, _ms(ttl)))

    async def aclose(self) -> None:
        pass  # the limit backend owns the shared client
