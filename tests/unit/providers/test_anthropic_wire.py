"""Anthropic tool and schema mapping details the emulator tests do not pin down."""

from __future__ import annotations

from typing import Any

from orchestrator_server.domain.chat import ChatMessage, ChatRequest, FinishReason, Role
from orchestrator_server.domain.tools import ToolCall, ToolChoice, ToolChoiceMode, ToolDefinition
from orchestrator_server.domain.tools import ToolCallAssembler as Assembler
from orchestrator_server.providers.anthropic import StreamState, conversation
from orchestrator_server.providers.anthropic_wire import constrained_schema, tool_fields


def test_constrained_schema_closes_objects_and_describes_what_it_cannot_enforce() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "minItems": 2},
            "when": {"type": "string", "format": "date"},
            "site": {"type": "string", "format": "uri-reference"},
            "kind": {"const": "city"},
            "either": {"oneOf": [{"type": "integer"}, {"type": "null"}]},
            "ref": {"$ref": "#/$defs/Point", "description": "dropped with the $ref"},
        },
        "additionalProperties": {"type": "string"},
        "$defs": {"Point": {"properties": {"x": {"type": "number", "minimum": 0}}}},
    }
    assert constrained_schema(schema) == {
        "$defs": {
            "Point": {
                "type": "object",
                "properties": {"x": {"type": "number", "description": "{minimum: 0}"}},
                "additionalProperties": False,
            }
        },
        "type": "object",
        "properties": {
            "tags": {
                "type": "array",
                "items": {"type": "string", "description": "{maxLength: 5}"},
                "description": "{minItems: 2}",
            },
            "when": {"type": "string", "format": "date"},
            "site": {"type": "string", "description": "{format: uri-reference}"},
            "kind": {"enum": ["city"]},
            "either": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "ref": {"$ref": "#/$defs/Point"},
        },
        "additionalProperties": False,
    }


def test_strict_tools_get_the_constrained_schema_and_others_theirs() -> None:
    loose = ToolDefinition("a", parameters={"properties": {"n": {"type": "integer", "minimum": 1}}})
    strict = ToolDefinition("b", parameters=loose.parameters, strict=True)
    bare = ToolDefinition("c")
    fields = tool_fields(ChatRequest((ChatMessage(Role.USER, "hi"),), tools=(loose, strict, bare)))
    assert fields == {
        "tools": [
            {"name": "a", "input_schema": {"type": "object", **loose.parameters}},
            {
                "name": "b",
                "input_schema": {
                    "type": "object",
                    "properties": {"n": {"type": "integer", "description": "{minimum: 1}"}},
                    "additionalProperties": False,
                },
                "strict": True,
            },
            {"name": "c", "input_schema": {"type": "object", "properties": {}}},
        ]
    }


def test_no_parallel_switch_with_choice_none_and_no_tools_no_fields() -> None:
    message = (ChatMessage(Role.USER, "hi"),)
    none = ChatRequest(
        message,
        tools=(ToolDefinition("a"),),
        tool_choice=ToolChoice(ToolChoiceMode.NONE),
        parallel_tool_calls=False,
    )
    assert tool_fields(none)["tool_choice"] == {"type": "none"}
    forced = ChatRequest(
        message,
        tools=(ToolDefinition("a"),),
        tool_choice=ToolChoice(ToolChoiceMode.TOOL, "a"),
        parallel_tool_calls=False,
    )
    assert tool_fields(forced)["tool_choice"] == {
        "type": "tool",
        "name": "a",
        "disable_parallel_tool_use": True,
    }
    assert tool_fields(ChatRequest(message, parallel_tool_calls=False)) == {}


def test_a_history_opening_with_calls_and_empty_results() -> None:
    calls = (ToolCall("toolu_1", "a", "not json"),)
    _, turns = conversation(
        (
            ChatMessage(Role.ASSISTANT, "", tool_calls=calls),
            ChatMessage(Role.TOOL, "", tool_call_id="toolu_1", tool_name="a"),
        )
    )
    assert turns == [
        {"role": "user", "content": "."},
        # Arguments that are not an object replay as an empty input (the API wants one).
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "a", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
    ]


def feed(state: StreamState, events: list[dict[str, Any]]) -> Assembler:
    calls = Assembler()
    for event in events:
        chunk = state.feed(event["type"], event)
        if chunk is not None:
            calls.add(chunk.tool_calls)
    return calls


def start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def piece(index: int, text: str) -> dict[str, Any]:
    delta = {"type": "input_json_delta", "partial_json": text}
    return {"type": "content_block_delta", "index": index, "delta": delta}


def test_a_call_without_deltas_takes_its_input_from_the_start() -> None:
    state = StreamState()
    tool = {"type": "tool_use", "id": "toolu_1", "name": "a", "input": {"x": 1}}
    calls = feed(state, [start(0, tool), {"type": "content_block_stop", "index": 0}])
    assert calls.calls() == (ToolCall("toolu_1", "a", '{"x": 1}'),)


def test_a_call_cut_by_max_tokens_keeps_its_pieces_and_says_length() -> None:
    state = StreamState()
    tool = {"type": "tool_use", "id": "toolu_1", "name": "a", "input": {}}
    events = [
        start(0, tool),
        piece(0, ""),
        piece(0, '{"city": "Par'),
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}},
    ]
    calls = feed(state, events)
    end = state.feed("message_stop", {"type": "message_stop"})
    assert end is not None
    assert end.finish_reason is FinishReason.LENGTH
    [made] = calls.calls()
    assert made.arguments == '{"city": "Par'
    assert made.parsed() is None


def test_deltas_of_blocks_that_are_not_calls_are_ignored() -> None:
    state = StreamState()
    calls = feed(
        state, [start(0, {"type": "server_tool_use", "id": "s", "name": "web"}), piece(0, "{}")]
    )
    assert not calls


def test_calls_make_the_finish_tool_call_whatever_the_stop_reason() -> None:
    state = StreamState()
    tool = {"type": "tool_use", "id": "toolu_1", "name": "a", "input": {}}
    feed(state, [start(0, tool), {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}])
    end = state.feed("message_stop", {"type": "message_stop"})
    assert end is not None
    assert end.finish_reason is FinishReason.TOOL_CALL
