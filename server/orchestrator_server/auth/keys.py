"""The caller-key table of a configuration: a presented key to the Caller it stands for."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import os
from dataclasses import dataclass

from orchestrator_server.config.auth import AuthConfig, CallerKeyConfig
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.errors import ApiKeyExpired, ApiKeyInvalid, ApiKeyMissing
from orchestrator_server.domain.redact import register_secret

# A key read from the environment shorter than this is refused at start: it is a
# placeholder ("replace-me") or guessable, not a key (`orchestrator keys new` makes 48).
MIN_KEY_CHARS = 20
HOW_TO_SEND = "send it as 'authorization: Bearer <key>' or 'x-api-key: <key>'"


class KeySetupError(Exception):
    """A key entry that cannot be used in this environment (a variable unset or too short)."""


def digest_of(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: bytes
    caller: Caller
    expires_at: datetime.datetime | None


class KeyTable:
    """Built once per configuration (at start and on each reload, which is how a rotated
    key takes effect); `authenticate` runs on every call."""

    def __init__(self, entries: list[_Entry]) -> None:
        self._by_digest = {entry.digest: entry for entry in entries}

    @classmethod
    def from_config(cls, config: AuthConfig, where: str = "auth") -> KeyTable:
        entries = [_entry(key, f"{where}.keys[{i}]") for i, key in enumerate(config.keys)]
        seen: dict[bytes, str] = {}
        for entry in entries:
            other = seen.setdefault(entry.digest, entry.caller.key_id)
            if other != entry.caller.key_id:
                raise KeySetupError(
                    f"{where}.keys: {entry.caller.key_id} and {other} are the same key"
                )
        return cls(entries)

    def authenticate(self, presented: str | None, now: datetime.datetime) -> Caller:
        """The caller `presented` stands for, or ApiKeyMissing / ApiKeyInvalid /
        ApiKeyExpired. The lookup is by SHA-256, so its timing can tell an attacker at most
        something about a digest, never about a key; the match is confirmed in constant
        time."""
        if not presented:
            raise ApiKeyMissing(f"this gateway needs a caller key: {HOW_TO_SEND}")
        digest = digest_of(presented)
        entry = self._by_digest.get(digest)
        if entry is None or not hmac.compare_digest(entry.digest, digest):
            raise ApiKeyInvalid("the caller key is not valid")
        if entry.expires_at is not None and now >= entry.expires_at:
            raise ApiKeyExpired(
                f"caller key {entry.caller.key_id} expired at {entry.expires_at.isoformat()}"
            )
        return entry.caller

    def __len__(self) -> int:
        return len(self._by_digest)


def _entry(config: CallerKeyConfig, where: str) -> _Entry:
    if config.key_sha256 is not None:
        digest = bytes.fromhex(config.key_sha256)
    else:
        assert config.key_env is not None
        value = os.environ.get(config.key_env, "")
        if not value:
            raise KeySetupError(
                f"{where}.key_env: environment variable {config.key_env} is not set"
            )
        if len(value) < MIN_KEY_CHARS:
            raise KeySetupError(
                f"{where}.key_env: {config.key_env} holds {len(value)} characters, fewer "
                f"than {MIN_KEY_CHARS}: a placeholder, not a key (make one with "
                "`orchestrator keys new`)"
            )
        register_secret(value)
        digest = digest_of(value)
    caller = Caller(
        key_id=config.id, tenant=config.tenant, authenticated=True, models=tuple(config.models)
    )
    return _Entry(digest, caller, config.expires_at)
