"""`orchestrator keys new`: a fresh caller key and the config entry that admits it."""

from __future__ import annotations

import datetime
import hashlib
import secrets
from typing import Any

PREFIX = "orch_"  # makes a leaked key easy for secret scanners to recognise


def new_key() -> str:
    """48 characters: a prefix and 256 random bits, URL-safe."""
    return PREFIX + secrets.token_urlsafe(32)


def key_entry(
    key: str,
    *,
    key_id: str | None = None,
    tenant: str = "default",
    models: list[str] | None = None,
    expires_at: datetime.datetime | None = None,
) -> dict[str, Any]:
    """The `auth.keys` entry for `key`: its SHA-256, never the key."""
    entry: dict[str, Any] = {
        "id": key_id or f"key-{secrets.token_hex(3)}",
        "tenant": tenant,
        "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
        "models": list(models or ["*"]),
    }
    if expires_at is not None:
        entry["expires_at"] = expires_at.isoformat().replace("+00:00", "Z")
    return entry
