"""JSON Schema checks: of the schemas callers send (tool parameters, response formats) and
of replies that must match a response schema."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from orchestrator_server.domain.chat import ChatRequest, FinishReason
from orchestrator_server.domain.tools import ResponseFormatType


class BadSchema(ValueError):
    """Why a schema is refused, phrased for a BadRequest description."""


def check_schema(schema: Mapping[str, Any], *, object_root: bool = False) -> None:
    problem = _schema_problem(json.dumps(schema, sort_keys=True), object_root)
    if problem is not None:
        raise BadSchema(problem)


@lru_cache(maxsize=1024)
def _schema_problem(schema_json: str, object_root: bool) -> str | None:
    """Checking a schema against the metaschema costs most of a millisecond; agents send
    the same tools with every call, so each distinct schema is checked once."""
    schema = json.loads(schema_json)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        at = f" at {where}" if where else ""
        return f"not a valid JSON Schema{at}: {exc.message}"
    if object_root and schema.get("type", "object") != "object":
        return 'must describe an object ("type": "object")'
    return None


def structured_reply_problem(
    request: ChatRequest, text: str, finish: FinishReason | None, has_tool_calls: bool
) -> str | None:
    """Why a finished reply breaks the requested format (JSON mode: a JSON object; a schema:
    an instance of it), or None. Replies cut short (length, content filter) and tool calls
    are not judged: their finish reason already tells the caller."""
    kind = request.response_format.type
    if kind is ResponseFormatType.TEXT or has_tool_calls:
        return None
    if finish not in (None, FinishReason.STOP, FinishReason.UNSPECIFIED):
        return None
    if kind is ResponseFormatType.JSON_SCHEMA:
        return reply_problem(text, request.response_format.schema)
    try:
        value = json.loads(text)
    except ValueError:
        return "the reply is not JSON"
    return None if isinstance(value, dict) else "the reply is not a JSON object"


def reply_problem(text: str, schema: Mapping[str, Any]) -> str | None:
    """None when `text` is JSON matching `schema`; else a short reason (for the attempt
    trail, so it never quotes the reply)."""
    try:
        value = json.loads(text)
    except ValueError:
        return "the reply is not JSON"
    error = best_match(_validator(json.dumps(schema, sort_keys=True)).iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the root"
    # The schema's words only (a missing property's name), never the reply's.
    why = error.message[:120] if error.validator == "required" else error.validator
    return f"the reply does not match the response schema at {where} ({why})"


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    # Agents send the same few schemas over and over; building a validator is the costly part.
    return Draft202012Validator(json.loads(schema_json))
