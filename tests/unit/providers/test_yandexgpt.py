"""YandexGPT parsing without a server: cumulative text to deltas, the result envelope, string
usage, the error table, modelUri and the request body."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator_server.config.providers import YandexGptProviderConfig
from orchestrator_server.domain.chat import (
    ChatMessage,
    ChatRequest,
    FinishReason,
    GenerationParams,
    Role,
    Usage,
)
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.redact import register_secret
from orchestrator_server.providers.registry import spec_of
from orchestrator_server.providers.yandexgpt import YandexGptProvider
from orchestrator_server.providers.yandexgpt_stream import (
    CumulativeText,
    parse_alternative,
    parse_usage,
)


def feed(*texts: str) -> tuple[list[str], int]:
    deltas = CumulativeText()
    return [deltas.delta(t) for t in texts], deltas.revisions


def test_cumulative_prefix_extensions_become_deltas() -> None:
    got, revisions = feed("Один", "Один, два", "Один, два", "Один, два, три.")
    assert got == ["Один", ", два", "", ", три."]
    assert "".join(got) == "Один, два, три."
    assert revisions == 0


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        # A word rewritten: the client keeps "cat", gets only what lies past its length.
        (("The cat", "The dog sat", "The dog sat down"), ["The cat", " sat", " down"]),
        # Same length, different text: nothing to add.
        (("Hello world ", "Hello world."), ["Hello world ", ""]),
        # Shorter, then growing again past what the client holds.
        (("abc def", "abc", "abc xyz ghi"), ["abc def", "", " ghi"]),
    ],
)
def test_non_prefix_updates_never_duplicate(texts: tuple[str, ...], expected: list[str]) -> None:
    got, revisions = feed(*texts)
    assert got == expected
    assert len("".join(got)) == max(len(t) for t in texts)
    assert revisions == 1


def test_revisions_count_each_non_extension_once() -> None:
    _, revisions = feed("a", "B", "Bc", "x", "xyz")
    assert revisions == 2


def line(status: str = "ALTERNATIVE_STATUS_FINAL", **usage: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "alternatives": [{"message": {"role": "assistant", "text": "hi"}, "status": status}],
        "modelVersion": "09.02.2025",
    }
    if usage:
        result["usage"] = usage
    return {"result": result}


def test_alternative_with_string_usage() -> None:
    got = parse_alternative(
        line(
            inputTextTokens="28",
            completionTokens="10",
            totalTokens="38",
            completionTokensDetails={"reasoningTokens": "0"},
        )
    )
    assert (got.text, got.status, got.final) == ("hi", "FINAL", True)
    assert got.finish_reason is FinishReason.STOP
    assert got.usage == Usage(28, 10, 38)


@pytest.mark.parametrize(
    ("status", "final", "finish"),
    [
        ("ALTERNATIVE_STATUS_PARTIAL", False, FinishReason.OTHER),
        ("ALTERNATIVE_STATUS_TRUNCATED_FINAL", True, FinishReason.LENGTH),
        ("ALTERNATIVE_STATUS_CONTENT_FILTER", True, FinishReason.CONTENT_FILTER),
        ("ALTERNATIVE_STATUS_TOOL_CALLS", True, FinishReason.TOOL_CALL),
        ("ALTERNATIVE_STATUS_UNSPECIFIED", True, FinishReason.UNSPECIFIED),
        ("ALTERNATIVE_STATUS_SOMETHING_NEW", True, FinishReason.OTHER),
        ("FINAL", True, FinishReason.STOP),
    ],
)
def test_statuses(status: str, final: bool, finish: FinishReason) -> None:
    got = parse_alternative(line(status))
    assert (got.final, got.finish_reason) == (final, finish)


def test_unwrapped_result_and_missing_status_and_tool_call_message() -> None:
    got = parse_alternative({"alternatives": [{"message": {"role": "assistant"}}]})
    assert (got.text, got.status, got.usage) == ("", "UNSPECIFIED", None)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "text",
        {"result": {}},
        {"result": {"alternatives": []}},
        {"result": {"alternatives": ["x"]}},
        {"result": {"alternatives": [{"message": {"text": 5}}]}},
    ],
)
def test_malformed_results(data: Any) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_alternative(data)
    assert caught.value.kind is ErrorKind.MALFORMED_RESPONSE


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"inputTextTokens": "3", "completionTokens": "4", "totalTokens": "7"}, Usage(3, 4, 7)),
        ({"inputTextTokens": 3, "completionTokens": 4}, Usage(3, 4, 7)),
        ({"inputTextTokens": "3"}, Usage(3, 0, 3)),
        ({"inputTextTokens": "three"}, None),
        ("38", None),
        (None, None),
    ],
)
def test_usage(raw: Any, expected: Usage | None) -> None:
    assert parse_usage(raw) == expected


KEY = "shortkey1"  # short enough for the generic redaction to miss: removed as registered


def provider(**fields: Any) -> YandexGptProvider:
    data = {
        "name": "ya",
        "kind": "yandexgpt",
        "model": "yandexgpt-lite",
        "api_key_env": "YANDEX_KEY",
        "folder_id": "b1gfolder",
        **fields,
    }
    config = YandexGptProviderConfig.model_validate(data)
    register_secret(KEY)  # as registry.api_key does when it reads a key from the environment
    return YandexGptProvider(spec_of(config), config, KEY)


def grpc_gateway(grpc_code: int, http_code: int | None, message: str) -> dict[str, Any]:
    error: dict[str, Any] = {"grpcCode": grpc_code, "message": message, "details": []}
    if http_code is not None:
        error["httpCode"] = http_code
    return {"error": error}


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ErrorKind.INVALID_REQUEST),
        (401, ErrorKind.AUTH),
        (403, ErrorKind.PERMISSION),
        (404, ErrorKind.NOT_FOUND),
        (429, ErrorKind.RATE_LIMITED),
        (500, ErrorKind.UNAVAILABLE),
        (503, ErrorKind.UNAVAILABLE),
        (504, ErrorKind.TIMEOUT),
    ],
)
def test_status_table(status: int, kind: ErrorKind) -> None:
    error = provider().error(status, {}, grpc_gateway(0, status, "nested message"))
    assert (error.kind, error.http_status) == (kind, status)
    assert error.message == f"upstream answered {status}: nested message"


def test_top_level_message_and_retry_after_ms() -> None:
    error = provider().error(429, {"retry-after-ms": "1500"}, {"code": 8, "message": "slow"})
    assert (error.kind, error.message, error.retry_after) == (
        ErrorKind.RATE_LIMITED,
        "upstream answered 429: slow",
        1.5,
    )


def test_key_echoed_by_the_upstream_is_removed() -> None:
    error = provider().error(401, {}, grpc_gateway(16, 401, f"Unknown api key '{KEY}'"))
    assert KEY not in error.message
    assert error.kind is ErrorKind.AUTH


def test_folder_mismatch_is_a_permission_problem_not_the_callers() -> None:
    body = grpc_gateway(
        3, 400, "Specified folder ID 'b1ga' does not match with service account folder ID 'b1gb'"
    )
    assert provider().error(400, {}, body).kind is ErrorKind.PERMISSION


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (grpc_gateway(13, 500, "Internal error"), ErrorKind.UNAVAILABLE),
        (grpc_gateway(8, 429, "quota"), ErrorKind.RATE_LIMITED),
        (grpc_gateway(16, None, "expired"), ErrorKind.AUTH),
        (grpc_gateway(4, None, "deadline"), ErrorKind.TIMEOUT),
        ({"error": {"code": 3, "message": "bad"}}, ErrorKind.INVALID_REQUEST),
        ({"error": {"grpcCode": "7", "message": "denied"}}, ErrorKind.PERMISSION),
        ({"error": "something broke"}, ErrorKind.UNAVAILABLE),
        ({"error": {"grpcCode": 99}}, ErrorKind.UNAVAILABLE),
    ],
)
def test_in_stream_error_lines(body: dict[str, Any], kind: ErrorKind) -> None:
    error = provider().error(None, {}, body)
    assert (error.kind, error.http_status) == (kind, None)


@pytest.mark.parametrize(
    ("model", "branch", "uri"),
    [
        ("yandexgpt-lite", "latest", "gpt://b1gfolder/yandexgpt-lite/latest"),
        ("yandexgpt", "rc", "gpt://b1gfolder/yandexgpt/rc"),
        ("llama/latest", "rc", "gpt://b1gfolder/llama/latest"),
        ("gpt://b1gother/yandexgpt/deprecated", "rc", "gpt://b1gother/yandexgpt/deprecated"),
        ("ds://b1gother/bt1xyz", "latest", "ds://b1gother/bt1xyz"),
    ],
)
def test_model_uri(model: str, branch: str, uri: str) -> None:
    assert provider(branch=branch).model_uri(model) == uri


def request(**params: Any) -> ChatRequest:
    return ChatRequest(
        (
            ChatMessage(Role.SYSTEM, "sys"),
            ChatMessage(Role.ASSISTANT, "a"),
            ChatMessage(Role.USER, "u"),
        ),
        GenerationParams(**params),
        request_id="0123456789abcdef0123456789abcdef",
    )


def test_body_maps_only_what_yandex_has() -> None:
    body = provider().body(
        request(
            temperature=1.5, max_tokens=7, top_p=0.5, stop=("x",), seed=1, repetition_penalty=1.1
        ),
        stream=True,
    )
    assert body == {
        "modelUri": "gpt://b1gfolder/yandexgpt-lite/latest",
        "completionOptions": {"stream": True, "temperature": 1.0, "maxTokens": "7"},
        "messages": [
            {"role": "system", "text": "sys"},
            {"role": "assistant", "text": "a"},
            {"role": "user", "text": "u"},
        ],
    }


def test_generated_request_ids_are_sent_as_uuids() -> None:
    headers = provider().headers(request())
    assert headers["x-client-request-id"] == "01234567-89ab-cdef-0123-456789abcdef"
    assert headers["Authorization"] == f"Api-Key {KEY}"
