"""Ollama: it has no keys of its own, so the check is reachability, GET /api/version
(wire-format reference §3.3). A key, when given, goes as `Authorization: Bearer` for an
authenticating proxy in front of Ollama, whose 401/403 then mean what they usually do."""

from __future__ import annotations

from orchestrator_server.validation.base import Budget, Target, json_object, require, send
from orchestrator_server.validation.outcomes import from_reply, odd_body, verdict
from orchestrator_server.validation.types import KeyCheck, Verdict
from orchestrator_server.validation.types import ValidationCode as C

VERSION_PATH = "/api/version"


class OllamaValidator:
    async def validate(self, check: KeyCheck, target: Target | None, budget: Budget) -> Verdict:
        target = require(target)
        headers = {"Accept": "application/json"}
        if check.api_key:
            headers["Authorization"] = f"Bearer {check.api_key}"
        reply = await send(target, "GET", target.url + VERSION_PATH, budget=budget, headers=headers)
        if isinstance(reply, Verdict):
            return reply
        if reply.status != 200:
            return from_reply(reply.status, reply.headers, reply.body)
        body = json_object(reply)
        version = None if body is None else body.get("version")
        if not isinstance(version, str):
            return odd_body(reply.headers, "the reply is not Ollama's version")
        return verdict(C.SUCCESS, f"Ollama {version[:32]} is reachable")
