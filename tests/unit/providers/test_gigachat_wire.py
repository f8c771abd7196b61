"""GigaChat function and attachment mapping details the emulator tests do not pin down."""

from __future__ import annotations

import pytest

from orchestrator_server.domain.chat import ChatMessage, ChatRequest, ImagePart, Role
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.tools import ToolCall, ToolChoice, ToolChoiceMode, ToolDefinition
from orchestrator_server.providers.gigachat_wire import (
    call_id,
    function_fields,
    images_to_upload,
    messages,
    reply_call,
    state_id,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(8)


def test_a_call_id_carries_its_state_id() -> None:
    state = "0199e210-2f13-744c-8fe5-c9a19fe27db7"
    made = call_id(state)
    assert made == "call_0199e2102f13744c8fe5c9a19fe27db7"
    assert state_id(made) == state
    assert call_id(None).startswith("call_")
    assert state_id(call_id("not a uuid")) is None  # 24 hex digits: made up
    assert state_id("call_abc") is None


def test_reply_call_takes_object_or_string_arguments() -> None:
    found = reply_call({"function_call": {"name": "f", "arguments": {"n": 1}}}, "x")
    assert found is not None
    assert (found.name, found.arguments) == ("f", '{"n": 1}')
    found = reply_call({"function_call": {"name": "f", "arguments": '{"n": 1}'}})
    assert found is not None
    assert found.arguments == '{"n": 1}'
    assert reply_call({"content": "hi"}) is None
    assert reply_call({"function_call": {"arguments": {}}}) is None


def test_functions_always_have_parameters() -> None:
    request = ChatRequest(
        (ChatMessage(Role.USER, "hi"),),
        tools=(ToolDefinition("f"),),
        tool_choice=ToolChoice(ToolChoiceMode.REQUIRED),
    )
    assert function_fields(request) == {
        "functions": [{"name": "f", "parameters": {"type": "object", "properties": {}}}],
        "function_call": {"name": "f"},
    }


def test_results_without_their_call_follow_the_pairs() -> None:
    request = ChatRequest(
        (
            ChatMessage(Role.ASSISTANT, "", tool_calls=(ToolCall("a", "f", "{}"),)),
            ChatMessage(Role.TOOL, '"x"', tool_call_id="b", tool_name="g"),
            ChatMessage(Role.TOOL, "{}", tool_call_id="a", tool_name="f"),
        )
    )
    assert messages(request, {}) == [
        {"role": "assistant", "content": "", "function_call": {"name": "f", "arguments": {}}},
        {"role": "function", "name": "f", "content": "{}"},
        {"role": "function", "name": "g", "content": '{"result": "x"}'},
    ]


def image(data: bytes = PNG, media_type: str = "image/png", url: str = "") -> ImagePart:
    return ImagePart(url=url, data=data, media_type=media_type)


@pytest.mark.parametrize(
    ("images", "why"),
    [
        ((image(), image()), "one image per message"),
        ((image(url="https://a/b.png", data=b"", media_type=""),), "image URLs"),
        ((image(media_type="image/gif"),), "image/gif"),
        ((image(data=PNG + bytes(15 * 1024 * 1024)),), "15 MB"),
    ],
)
def test_images_gigachat_cannot_take(images: tuple[ImagePart, ...], why: str) -> None:
    request = ChatRequest((ChatMessage(Role.USER, "look", parts=images),))
    with pytest.raises(ProviderError) as caught:
        images_to_upload(request)
    assert caught.value.kind is ErrorKind.UNSUPPORTED
    assert why in str(caught.value)


def test_at_most_ten_images() -> None:
    one = ChatMessage(Role.USER, "look", parts=(image(),))
    assert len(images_to_upload(ChatRequest((one,) * 10))) == 10
    with pytest.raises(ProviderError, match="at most 10"):
        images_to_upload(ChatRequest((one,) * 11))
