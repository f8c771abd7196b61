"""OpenAI-compatible, Anthropic and Gemini: list the models (a free GET that needs a valid
key) and check the reply is the listing it should be. Wire-format reference §4, §5, §6."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator_server.config.providers import ANTHROPIC_VERSION, GEMINI_API_VERSION
from orchestrator_server.validation.base import Budget, Target, json_object, require, send
from orchestrator_server.validation.outcomes import (
    DEFAULT_STATUS_CODES,
    DEFAULT_TABLE,
    StatusTable,
    from_reply,
    odd_body,
    request_id_of,
    verdict,
)
from orchestrator_server.validation.types import KeyCheck, Verdict
from orchestrator_server.validation.types import ValidationCode as C


def _error_object(body: Any) -> dict[str, Any]:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _openai_rule(status: int, body: Any) -> C | None:
    # A billing 429 ("insufficient_quota") will not pass by waiting: the key is fine, the
    # account may not use it.
    error = _error_object(body)
    if status == 429 and "insufficient_quota" in (error.get("code"), error.get("type")):
        return C.PERMISSION_DENIED
    return None


def _gemini_rule(status: int, body: Any) -> C | None:
    # Gemini answers a bad key with 400 (ErrorInfo reason API_KEY_INVALID), and a region
    # without access with 400 FAILED_PRECONDITION.
    error = _error_object(body)
    details = error.get("details")
    if not isinstance(details, list):
        details = []
    reasons = {d.get("reason") for d in details if isinstance(d, dict)}
    if "API_KEY_INVALID" in reasons:
        return C.INVALID_API_KEY
    if status == 400 and error.get("status") == "FAILED_PRECONDITION":
        return C.PERMISSION_DENIED
    return None


OPENAI_TABLE = StatusTable(body_rule=_openai_rule)
ANTHROPIC_TABLE = DEFAULT_TABLE  # 401/403/429 as usual; 529 "overloaded" is a 5xx
GEMINI_TABLE = StatusTable(statuses=DEFAULT_STATUS_CODES, body_rule=_gemini_rule)


@dataclass(frozen=True, slots=True)
class Listing:
    """How one kind lists its models: the URL below the base, the auth headers, the key of
    the list in a good reply, and the status table."""

    path: Callable[[Target], str]
    headers: Callable[[str, Target], Mapping[str, str]]
    list_key: str
    table: StatusTable


OPENAI = Listing(
    path=lambda target: "/models",
    headers=lambda key, target: {"Authorization": f"Bearer {key}"},
    list_key="data",
    table=OPENAI_TABLE,
)
ANTHROPIC = Listing(
    path=lambda target: "/v1/models",
    headers=lambda key, target: {
        "x-api-key": key,
        "anthropic-version": target.api_version or ANTHROPIC_VERSION,
    },
    list_key="data",
    table=ANTHROPIC_TABLE,
)
GEMINI = Listing(
    path=lambda target: f"/{(target.api_version or GEMINI_API_VERSION).strip('/')}/models",
    # The header, never ?key=: a URL ends up in logs and error texts.
    headers=lambda key, target: {"x-goog-api-key": key},
    list_key="models",
    table=GEMINI_TABLE,
)


class ListingValidator:
    def __init__(self, listing: Listing) -> None:
        self._listing = listing

    async def validate(self, check: KeyCheck, target: Target | None, budget: Budget) -> Verdict:
        target = require(target)
        listing = self._listing
        reply = await send(
            target,
            "GET",
            target.url + listing.path(target),
            budget=budget,
            headers={**listing.headers(check.api_key, target), "Accept": "application/json"},
        )
        if isinstance(reply, Verdict):
            return reply
        if reply.status != 200:
            return from_reply(reply.status, reply.headers, reply.body, listing.table)
        body = json_object(reply)
        # Gemini leaves out an empty list; the others always send theirs.
        models = None if body is None else body.get(listing.list_key, [])
        if not isinstance(models, list):
            return odd_body(reply.headers, "the reply is not a model list")
        return verdict(
            C.SUCCESS,
            f"{len(models)} models listed",
            request_id=request_id_of(reply.headers),
        )


# The registry's factories (config/providers.py KINDS).
def openai() -> ListingValidator:
    return ListingValidator(OPENAI)


def anthropic() -> ListingValidator:
    return ListingValidator(ANTHROPIC)


def gemini() -> ListingValidator:
    return ListingValidator(GEMINI)
