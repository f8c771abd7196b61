"""Gemini function-calling and schema mapping details the emulator tests do not pin down."""

from __future__ import annotations

from orchestrator_server.domain.chat import ChatMessage, ImagePart, Role, TextPart
from orchestrator_server.domain.tools import ToolCall
from orchestrator_server.providers.gemini_wire import (
    UNSIGNED,
    Signatures,
    contents,
    json_schema,
    normalized,
    reply_calls,
)


def test_json_schema_keeps_the_documented_keywords_in_every_subschema() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "maxItems": 2},
            "pair": {"prefixItems": [{"const": 1}, {"type": "string", "pattern": "x"}]},
            "either": {"oneOf": [{"type": "integer", "multipleOf": 2}, {"type": "null"}]},
            "extra": {"type": "object", "additionalProperties": {"type": "number", "default": 0}},
        },
        "$defs": {"P": {"type": "number", "exclusiveMinimum": 0}},
        "examples": [{}],
    }
    assert json_schema(schema) == {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
            "pair": {"prefixItems": [{"enum": [1]}, {"type": "string"}]},
            "either": {"oneOf": [{"type": "integer"}, {"type": "null"}]},
            "extra": {"type": "object", "additionalProperties": {"type": "number"}},
        },
        "$defs": {"P": {"type": "number"}},
    }


def test_signatures_keep_the_most_recent() -> None:
    kept = Signatures(size=2)
    for call in ("a", "b", "c"):
        kept.keep(call, call.upper())
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (None, "B", "C")


def test_reply_calls_keep_ids_and_signatures_gemini_gave() -> None:
    kept = Signatures()
    content = {
        "parts": [
            {"text": "Let me look."},
            {
                "functionCall": {"id": "fc-1", "name": "a", "args": {"n": 2.0}},
                "thoughtSignature": "S",
            },
            {"functionCall": {"name": "b"}},
            {"functionCall": {"args": {}}},  # no name: not a call
        ]
    }
    first, second = reply_calls(content, kept)
    assert first == ToolCall("fc-1", "a", '{"n": 2}')
    assert (second.name, second.arguments) == ("b", "{}")
    assert second.id.startswith("call_")
    assert kept.get("fc-1") == "S"
    assert kept.get(second.id) is None


def test_contents_sign_each_call_turn_and_skip_empty_text() -> None:
    kept = Signatures()
    kept.keep("c2", "REAL")
    messages = (
        ChatMessage(Role.SYSTEM, "sys"),
        ChatMessage(
            Role.USER, "look", parts=(TextPart(""), ImagePart(data=b"x", media_type="image/png"))
        ),
        ChatMessage(Role.ASSISTANT, "", tool_calls=(ToolCall("c1", "a", "{}"),)),
        ChatMessage(Role.TOOL, "[1, 2]", tool_call_id="c1", tool_name="a"),
        ChatMessage(Role.ASSISTANT, "Next.", tool_calls=(ToolCall("c2", "a", "bad json"),)),
        ChatMessage(Role.TOOL, "not json", tool_call_id="c2", tool_name="a"),
    )
    assert contents(messages, kept) == [
        {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "eA=="}}]},
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "a", "args": {}}, "thoughtSignature": UNSIGNED}],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "a", "response": {"result": [1, 2]}}}],
        },
        {
            "role": "model",
            "parts": [
                {"text": "Next."},
                {"functionCall": {"name": "a", "args": {}}, "thoughtSignature": "REAL"},
            ],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "a", "response": {"result": "not json"}}}],
        },
    ]


def test_normalized() -> None:
    assert normalized([3.0, 4.0]) == [0.6, 0.8]
    assert normalized([0.0, 0.0]) == [0.0, 0.0]
