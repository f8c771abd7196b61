"""GigaChat: a key is valid when its OAuth host issues an access token for a scope
(wire-format reference §1.1). Nothing is generated; the token is thrown away.

With no scope given, PERS, B2B and CORP are tried in that order. Only the OAuth host's
scope-mismatch answer (body code 7: the key exists but does not cover this scope) moves on
to the next scope; any other answer (a bad key, a rate limit, a timeout, a server error)
is the verdict at once, because another scope could not change it."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from orchestrator_server.domain.errors import ProviderError
from orchestrator_server.providers.gigachat_auth import SCOPE_MISMATCH, parse_token
from orchestrator_server.validation.base import Budget, Target, require, send
from orchestrator_server.validation.outcomes import StatusTable, from_reply, odd_body, verdict
from orchestrator_server.validation.types import KeyCheck, Verdict
from orchestrator_server.validation.types import ValidationCode as C

SCOPES = ("GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP")
# OAuth-host body codes (reference §1.6). The body decides, not the HTTP status: code 7
# comes as 400 (official page) or 401 (third-party tables).
BODY_CODES = {
    SCOPE_MISMATCH: C.SCOPE_MISMATCH,
    6: C.INVALID_API_KEY,  # credentials doesn't match db data
    4: C.INVALID_API_KEY,  # can't decode the Authorization header: a malformed key
    5: C.VALIDATION_ERROR,  # scope is empty
    1: C.VALIDATION_ERROR,  # scope data format invalid
}


def _oauth_body_rule(status: int, body: Any) -> C | None:
    if status == 429 or status >= 500:
        return None  # the status table's rows
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and code in BODY_CODES:
        return BODY_CODES[code]
    if 400 <= status < 500 and status != 403:
        # A 4xx without a known code: every request we send is well-formed, so the key
        # is what the host could not accept.
        return C.INVALID_API_KEY
    return None


OAUTH_TABLE = StatusTable(body_rule=_oauth_body_rule)


class GigaChatValidator:
    async def validate(self, check: KeyCheck, target: Target | None, budget: Budget) -> Verdict:
        target = require(target)
        scopes = (check.scope,) if check.scope else SCOPES
        tried: list[str] = []
        result = verdict(C.NETWORK_TIMEOUT, "no time left for another call")
        for scope in scopes:
            tried.append(scope)
            result = await self._try(check.api_key, scope, target, budget)
            if result.code is not C.SCOPE_MISMATCH:
                break
        if result.code is C.SCOPE_MISMATCH and len(tried) > 1:
            result = verdict(C.SCOPE_MISMATCH, "the key covers none of " + ", ".join(tried))
        return replace(
            result,
            detected_scope=tried[-1] if result.valid else "",
            tried_scopes=tuple(tried),
            attempts=len(tried),
        )

    async def _try(self, key: str, scope: str, target: Target, budget: Budget) -> Verdict:
        rquid = str(uuid.uuid4())  # support finds an OAuth call by it
        reply = await send(
            target,
            "POST",
            target.url,
            budget=budget,
            data={"scope": scope},
            headers={
                "Authorization": f"Basic {key}",
                "RqUID": rquid,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            request_id=rquid,
        )
        if isinstance(reply, Verdict):
            return reply
        if reply.status != 200:
            return from_reply(
                reply.status, reply.headers, reply.body, OAUTH_TABLE, request_id=rquid
            )
        try:
            parse_token(reply.json(), 0.0)
        except ProviderError:
            return odd_body(reply.headers, "no access token in the reply", request_id=rquid)
        return verdict(C.SUCCESS, f"scope {scope}", request_id=rquid)
