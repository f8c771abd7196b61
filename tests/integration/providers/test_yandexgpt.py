"""The YandexGPT native adapter against the emulator, through the real gRPC server: its
headers, model URIs, cumulative streams and final statuses. The scenarios every provider
shares are in test_provider_contract.py."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from orchestrator.v1 import common_pb2, generate_pb2
from orchestrator_server.config.providers import YandexGptProviderConfig
from orchestrator_server.providers.registry import build_provider
from tests.emulators.yandexgpt import YandexGptEmulator
from tests.helpers import make_config, mock_provider, running, stream_text, trail
from tests.integration.providers.contract import YANDEXGPT, emulator_fixture

KEY = YANDEXGPT.key
FOLDER = YANDEXGPT.fields["folder_id"]
COMPLETION = YANDEXGPT.chat_path
TOKENIZE = "/foundationModels/v1/tokenize"
REQUEST_ID = "3f2c1a9e-8b7d-4c6e-9f10-a1b2c3d4e5f6"
REQUEST = generate_pb2.GenerateRequest(
    messages=[
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_SYSTEM, content="Be brief."),
        generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content="Say hello"),
    ],
    # top_p, stop and seed have no YandexGPT equivalent: accepted, not sent.
    params=generate_pb2.GenerationParams(
        temperature=0.2, max_tokens=50, top_p=0.9, stop=["END"], seed=7
    ),
)


emulator = emulator_fixture(YANDEXGPT)
yandex = YANDEXGPT.entry


async def collect(server: Any, prompt: str = "count", **params: Any) -> list[Any]:
    request = generate_pb2.GenerateStreamRequest(
        prompt=prompt, params=generate_pb2.GenerationParams(**params)
    )
    return [e async for e in server.stub.GenerateStream(request)]


def attempts(error: grpc.aio.AioRpcError) -> list[common_pb2.Attempt]:
    found = trail(error)
    assert found is not None
    return list(found.attempts)


def deltas(events: list[Any]) -> list[str]:
    return [e.delta.text for e in events if e.HasField("delta")]


async def test_unary_request_headers_body_and_reply(emulator: YandexGptEmulator) -> None:
    emulator.set(text="Hello there, friend")
    async with running(make_config(yandex(emulator))) as server:
        reply = await server.stub.Generate(REQUEST, metadata=(("x-request-id", REQUEST_ID),))
    assert (reply.text, reply.provider, reply.model) == (
        "Hello there, friend",
        "ya",
        "yandexgpt-lite",
    )
    assert reply.finish_reason == generate_pb2.FINISH_REASON_STOP
    # The emulator counts words: "Be brief." + "Say hello" in, three out; sent as strings.
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (4, 3)
    assert reply.usage.total_tokens == 7
    assert not reply.usage.estimated
    [call] = emulator.calls(COMPLETION)
    assert call.method == "POST"
    assert call.headers["authorization"] == f"Api-Key {KEY}"
    assert call.headers["content-type"].startswith("application/json")
    assert call.headers["x-data-logging-enabled"] == "false"
    assert call.headers["x-client-request-id"] == REQUEST_ID
    assert "x-folder-id" not in call.headers
    assert call.json() == {
        "modelUri": f"gpt://{FOLDER}/yandexgpt-lite/latest",
        "completionOptions": {"stream": False, "temperature": 0.2, "maxTokens": "50"},
        "messages": [
            {"role": "system", "text": "Be brief."},
            {"role": "user", "text": "Say hello"},
        ],
    }


async def test_iam_token_is_a_bearer_and_folder_header_is_optional(
    emulator: YandexGptEmulator,
) -> None:
    config = make_config(yandex(emulator, credential="iam-token", send_folder_header=True))
    async with running(config) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    [call] = emulator.calls(COMPLETION)
    assert call.headers["authorization"] == f"Bearer {KEY}"
    assert call.headers["x-folder-id"] == FOLDER


async def test_request_id_that_is_not_a_uuid_is_not_sent(emulator: YandexGptEmulator) -> None:
    async with running(make_config(yandex(emulator))) as server:
        await server.stub.Generate(
            generate_pb2.GenerateRequest(prompt="hi"), metadata=(("x-request-id", "trace-42"),)
        )
    [call] = emulator.calls(COMPLETION)
    assert "x-client-request-id" not in call.headers


async def test_data_logging_header_can_be_overridden(emulator: YandexGptEmulator) -> None:
    config = make_config(yandex(emulator, headers={"X-Data-Logging-Enabled": "true"}))
    async with running(config) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    [call] = emulator.calls(COMPLETION)
    assert call.headers["x-data-logging-enabled"] == "true"


@pytest.mark.parametrize(
    ("model", "branch", "uri"),
    [
        ("yandexgpt", "rc", f"gpt://{FOLDER}/yandexgpt/rc"),
        ("yandexgpt-32k/rc", "latest", f"gpt://{FOLDER}/yandexgpt-32k/rc"),
        ("gpt://b1gother/llama/latest", "latest", "gpt://b1gother/llama/latest"),
        ("ds://b1gother/bt1abc", "latest", "ds://b1gother/bt1abc"),
    ],
)
async def test_model_uri(emulator: YandexGptEmulator, model: str, branch: str, uri: str) -> None:
    async with running(make_config(yandex(emulator, model=model, branch=branch))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert reply.model == model
    assert emulator.calls(COMPLETION)[0].json()["modelUri"] == uri


async def test_stream_turns_cumulative_lines_into_deltas(emulator: YandexGptEmulator) -> None:
    emulator.set(text="Один, два, три, четыре, пять.", words_per_chunk=2)
    async with running(make_config(yandex(emulator))) as server:
        events = await collect(server)
    # Upstream lines: "Один, два," / "Один, два, три, четыре," / "... пять." (FINAL).
    assert deltas(events) == ["Один, два,", " три, четыре,", " пять."]
    assert stream_text(events) == "Один, два, три, четыре, пять."
    end = events[-1].end
    assert end.finish_reason == generate_pb2.FINISH_REASON_STOP
    assert (end.usage.prompt_tokens, end.usage.completion_tokens) == (1, 5)
    assert (end.usage.total_tokens, end.usage.estimated) == (6, False)
    [call] = emulator.calls(COMPLETION)
    assert call.json()["completionOptions"] == {"stream": True}
    assert call.headers["authorization"] == f"Api-Key {KEY}"


async def test_stream_non_prefix_update_never_duplicates_text(
    emulator: YandexGptEmulator,
) -> None:
    # From the third line on the upstream rewrites everything in capitals.
    emulator.set(text="alpha beta gamma delta")
    emulator.revise_after = 2
    async with running(make_config(yandex(emulator))) as server:
        events = await collect(server)
    # The client keeps what it was sent; only text past its length follows.
    assert deltas(events) == ["alpha", " beta", " GAMMA", " DELTA"]
    assert stream_text(events) == "alpha beta GAMMA DELTA"
    assert events[-1].end.finish_reason == generate_pb2.FINISH_REASON_STOP


async def test_truncated_final_is_finish_reason_length(emulator: YandexGptEmulator) -> None:
    emulator.set(text="one two three four five")
    async with running(make_config(yandex(emulator))) as server:
        reply = await server.stub.Generate(
            generate_pb2.GenerateRequest(
                prompt="count", params=generate_pb2.GenerationParams(max_tokens=2)
            )
        )
        events = await collect(server, max_tokens=3)
    assert (reply.text, reply.finish_reason) == ("one two", generate_pb2.FINISH_REASON_LENGTH)
    assert stream_text(events) == "one two three"
    assert events[-1].end.finish_reason == generate_pb2.FINISH_REASON_LENGTH
    assert [c.json()["completionOptions"]["maxTokens"] for c in emulator.requests] == ["2", "3"]


@pytest.mark.parametrize(
    ("status", "finish"),
    [
        ("ALTERNATIVE_STATUS_CONTENT_FILTER", generate_pb2.FINISH_REASON_CONTENT_FILTER),
        ("ALTERNATIVE_STATUS_TOOL_CALLS", generate_pb2.FINISH_REASON_TOOL_CALL),
    ],
)
async def test_other_final_statuses(
    emulator: YandexGptEmulator, status: str, finish: generate_pb2.FinishReason
) -> None:
    emulator.final_status = status
    async with running(make_config(yandex(emulator))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        events = await collect(server)
    assert reply.finish_reason == finish
    assert events[-1].end.finish_reason == finish


async def test_error_message_comes_from_the_nested_error(emulator: YandexGptEmulator) -> None:
    emulator.set(mode="error", status=403)
    async with running(make_config(yandex(emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    [attempt] = attempts(caught.value)
    assert "Permission to [resource-manager.folder b1gemulated] denied" in attempt.message


async def test_folder_header_the_service_account_rejects_falls_back(
    emulator: YandexGptEmulator,
) -> None:
    # A 400, but a misconfiguration of this provider, not the caller's invalid request.
    emulator.service_account_folder = "b1gserviceaccount"
    config = make_config(
        yandex(emulator, send_folder_header=True), mock_provider("backup", reply="from backup")
    )
    async with running(config) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert (reply.provider, reply.text) == ("backup", "from backup")
    assert [a.error_code for a in reply.attempts] == ["permission", ""]


async def test_check_health_tokenizes_instead_of_completing(
    emulator: YandexGptEmulator,
) -> None:
    provider = build_provider(YandexGptProviderConfig.model_validate(yandex(emulator)))
    try:
        await provider.check_health()
    finally:
        await provider.aclose()
    assert emulator.calls(COMPLETION) == []
    [call] = emulator.calls(TOKENIZE)
    assert call.headers["authorization"] == f"Api-Key {KEY}"
    assert call.json() == {"modelUri": f"gpt://{FOLDER}/yandexgpt-lite/latest", "text": "ping"}


@pytest.mark.parametrize("max_tokens", ["2", 2])
async def test_emulator_accepts_max_tokens_as_string_or_integer(
    emulator: YandexGptEmulator, max_tokens: object
) -> None:
    import aiohttp

    emulator.set(text="one two three")
    body = {
        "modelUri": f"gpt://{FOLDER}/yandexgpt-lite/latest",
        "completionOptions": {"stream": False, "maxTokens": max_tokens},
        "messages": [{"role": "user", "text": "count"}],
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{emulator.base_url}{COMPLETION}", json=body, headers={"Authorization": "Api-Key k"}
        ) as response,
    ):
        data = await response.json()
    [alternative] = data["result"]["alternatives"]
    assert (alternative["message"]["text"], alternative["status"]) == (
        "one two",
        "ALTERNATIVE_STATUS_TRUNCATED_FINAL",
    )
