"""The mock kind: no network, a verdict read off the key's start, so demos and client tests
can see every outcome on the embedded default config.

    invalid...   INVALID_API_KEY          forbidden... PERMISSION_DENIED
    ratelimit... RATE_LIMIT_EXCEEDED (retry_after 1 s)
    timeout...   NETWORK_TIMEOUT          error...     PROVIDER_ERROR
    scope...     SCOPE_MISMATCH           anything else: SUCCESS"""

from __future__ import annotations

from orchestrator_server.validation.base import Budget, Target
from orchestrator_server.validation.outcomes import verdict
from orchestrator_server.validation.types import KeyCheck, Verdict
from orchestrator_server.validation.types import ValidationCode as C

RULES: tuple[tuple[str, C], ...] = (
    ("invalid", C.INVALID_API_KEY),
    ("forbidden", C.PERMISSION_DENIED),
    ("ratelimit", C.RATE_LIMIT_EXCEEDED),
    ("timeout", C.NETWORK_TIMEOUT),
    ("error", C.PROVIDER_ERROR),
    ("scope", C.SCOPE_MISMATCH),
)
RETRY_AFTER_S = 1.0


def mock_code(key: str) -> C:
    for prefix, code in RULES:
        if key.startswith(prefix):
            return code
    return C.SUCCESS


class MockValidator:
    async def validate(self, check: KeyCheck, target: Target | None, budget: Budget) -> Verdict:
        code = mock_code(check.api_key)
        retry = RETRY_AFTER_S if code is C.RATE_LIMIT_EXCEEDED else None
        return verdict(code, "mock provider", retry_after=retry)
