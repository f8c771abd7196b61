"""The admin token AdminService calls must present."""

from __future__ import annotations

import hashlib
import hmac
import os

from orchestrator_server.domain.redact import register_secret


class AdminTokenError(Exception):
    pass


class AdminToken:
    def __init__(self, token: str) -> None:
        if not token:
            raise AdminTokenError("the admin token is empty")
        self._digest = hashlib.sha256(token.encode()).digest()

    @classmethod
    def from_env(cls, env: str, where: str = "reload.admin.token_env") -> AdminToken:
        token = os.environ.get(env, "")
        if not token:
            raise AdminTokenError(f"{where}: environment variable {env} is not set")
        register_secret(token)
        return cls(token)

    def matches(self, presented: str | None) -> bool:
        """Digests compared in constant time: neither the content nor the length of the
        token shows in the timing."""
        digest = hashlib.sha256((presented or "").encode()).digest()
        return hmac.compare_digest(digest, self._digest)
