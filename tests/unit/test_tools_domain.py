"""The domain pieces of tools, structured output, images and embeddings, one by one."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from orchestrator_server.domain.capabilities import ALL, Capabilities, Feature
from orchestrator_server.domain.chat import (
    ChatMessage,
    ChatRequest,
    FinishReason,
    ImagePart,
    Role,
)
from orchestrator_server.domain.images import (
    BadImage,
    check_url,
    checked_bytes,
    from_data_url,
    sniff,
)
from orchestrator_server.domain.schemas import (
    BadSchema,
    check_schema,
    reply_problem,
    structured_reply_problem,
)
from orchestrator_server.domain.tools import (
    ResponseFormat,
    ResponseFormatType,
    ToolCall,
    ToolCallAssembler,
    ToolCallDelta,
    ToolChoice,
    ToolChoiceMode,
    ToolDefinition,
    parse_arguments,
)
from orchestrator_server.providers.mock_replies import fill
from tests.integration.providers.tools_common import CITY_SCHEMA, JPEG, PNG

USER = ChatMessage(Role.USER, "hi")
WEATHER = ToolDefinition("get_weather", parameters={"type": "object"})


def test_assembler_keys_by_index_and_takes_only_non_empty_ids_and_names() -> None:
    calls = ToolCallAssembler()
    assert not calls
    calls.add([ToolCallDelta(1, "call_b", "second", "")])
    calls.add([ToolCallDelta(0, "call_a", "first", '{"ci')])
    calls.add([ToolCallDelta(1, "", "", '{"x"'), ToolCallDelta(0, "", "", 'ty": "Ed')])
    calls.add([ToolCallDelta(0, arguments='inburgh"}'), ToolCallDelta(1, arguments=": 1}")])
    assert calls.calls() == (
        ToolCall("call_a", "first", '{"city": "Edinburgh"}'),
        ToolCall("call_b", "second", '{"x": 1}'),
    )


def test_assembler_makes_ids_and_empty_arguments() -> None:
    calls = ToolCallAssembler()
    calls.add([ToolCallDelta(0, name="ping")])
    [made] = calls.calls()
    assert made.id.startswith("call_")
    assert len(made.id) == 29
    assert made.arguments == "{}"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("{}", {}), ("", {}), ('{"a": [1]}', {"a": [1]}), ("[1]", None), ('{"a":', None)],
)
def test_parse_arguments(text: str, parsed: dict[str, Any] | None) -> None:
    assert ToolCall("c", "f", text).parsed() == parsed == parse_arguments(text)


def test_image_signatures() -> None:
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8 "
    assert [sniff(PNG), sniff(JPEG), sniff(b"GIF89a..."), sniff(webp), sniff(b"%PDF")] == [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        None,
    ]
    assert checked_bytes(JPEG, "image/jpg") == "image/jpeg"
    with pytest.raises(BadImage, match="bytes are image/png"):
        checked_bytes(PNG, "image/gif")
    with pytest.raises(BadImage, match="empty"):
        checked_bytes(b"", "")


def test_data_urls_and_urls() -> None:
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert from_data_url(url) == (PNG, "image/png")
    with pytest.raises(BadImage, match="data:<media type>"):
        from_data_url("data:text/plain,hello")
    with pytest.raises(BadImage, match="bytes are image/png"):
        from_data_url("data:image/jpeg;base64," + base64.b64encode(PNG).decode())
    check_url("https://example.com/cat.png")
    for bad in ("ftp://example.com/a.png", "https://", "/relative.png", "x" * 9000):
        with pytest.raises(BadImage):
            check_url(bad)


def test_schemas() -> None:
    check_schema(CITY_SCHEMA, object_root=True)
    with pytest.raises(BadSchema, match="object"):
        check_schema({"type": "array"}, object_root=True)
    with pytest.raises(BadSchema, match="not a valid JSON Schema at properties/x/type"):
        check_schema({"properties": {"x": {"type": "nope"}}})
    assert reply_problem('{"name": "Oslo", "population": 1}', CITY_SCHEMA) is None
    assert reply_problem("nope", CITY_SCHEMA) == "the reply is not JSON"
    problem = reply_problem('{"name": "Oslo", "population": -5}', CITY_SCHEMA)
    assert problem == "the reply does not match the response schema at population (minimum)"
    assert "-5" not in problem


def test_only_finished_replies_are_judged() -> None:
    request = ChatRequest(
        (USER,),
        response_format=ResponseFormat(ResponseFormatType.JSON_SCHEMA, "c", "", CITY_SCHEMA),
    )
    assert structured_reply_problem(request, "{", FinishReason.LENGTH, False) is None
    assert structured_reply_problem(request, "", FinishReason.TOOL_CALL, True) is None
    assert structured_reply_problem(request, "{", FinishReason.STOP, False) is not None
    mode = ChatRequest((USER,), response_format=ResponseFormat(ResponseFormatType.JSON_OBJECT))
    assert structured_reply_problem(mode, "[1]", None, False) == "the reply is not a JSON object"
    assert structured_reply_problem(mode, '{"a": 1}', None, False) is None
    assert structured_reply_problem(ChatRequest((USER,)), "{", None, False) is None


def test_required_features() -> None:
    assert ChatRequest((USER,)).required_features() == frozenset()
    forced = ChatRequest(
        (USER,),
        tools=(WEATHER,),
        tool_choice=ToolChoice(ToolChoiceMode.TOOL, "get_weather"),
        parallel_tool_calls=True,
    )
    assert forced.required_features() == {
        Feature.TOOLS,
        Feature.TOOL_CHOICE,
        Feature.PARALLEL_TOOLS,
    }
    silent = ChatRequest(
        (USER,),
        tools=(WEATHER,),
        tool_choice=ToolChoice(ToolChoiceMode.NONE),
        parallel_tool_calls=True,
    )
    assert silent.required_features() == {Feature.TOOLS}
    images = ChatRequest(
        (
            ChatMessage(
                Role.USER,
                "x",
                (ImagePart(data=PNG, media_type="image/png"), ImagePart(url="https://a/b")),
            ),
        )
    )
    assert images.required_features() == {Feature.IMAGES, Feature.IMAGE_URLS}


def test_capabilities() -> None:
    assert Capabilities(tools=True).missing(frozenset(Feature)) == tuple(
        f for f in Feature if f is not Feature.TOOLS
    )
    assert ALL.with_overrides({"images": False}).names() == tuple(
        f.value for f in Feature if f is not Feature.IMAGES
    )
    # The config's override keys are the features' names (every kind's row is its registry
    # entry's `capabilities`).
    from orchestrator_server.config.providers import CapabilitiesConfig

    assert set(CapabilitiesConfig.model_fields) == {f.value for f in Feature}


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        (CITY_SCHEMA, {"name": "Oslo", "population": 1}),
        (
            {"type": "object", "properties": {"a": {"type": "boolean"}, "b": {"type": "number"}}},
            {"a": True, "b": 1.0},
        ),
        (
            {"type": "object", "properties": {"u": {"enum": ["c", "f"]}}, "required": ["u"]},
            {"u": "c"},
        ),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 2}, [1, 1]),
        ({"type": "string", "format": "date"}, "2025-01-01"),
        ({"anyOf": [{"type": "integer", "minimum": 3}, {"type": "null"}]}, 3),
        ({"type": ["null", "string"]}, "Oslo"),
        ({"const": 7}, 7),
    ],
)
def test_mock_fills_schemas(schema: dict[str, Any], value: Any) -> None:
    assert fill(schema, "Oslo") == value
