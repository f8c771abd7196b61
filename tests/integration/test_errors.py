"""The error table: one row per domain error class, each provoked through the real server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from orchestrator.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    generate_pb2,
    metrics_pb2,
    retrieve_pb2,
    tools_pb2,
    validate_key_pb2,
)
from orchestrator_server.api.errors import STATUS_TABLE
from orchestrator_server.config import Config
from tests.helpers import (
    ADMIN,
    Running,
    bearer,
    caller_key,
    detail,
    error_reason,
    make_config,
    mock_provider,
    running,
    trail,
)

PROMPT = generate_pb2.GenerateRequest(prompt="hello")


@dataclass
class Row:
    error: str  # the domain error class the row exercises
    config: Config
    call: Callable[[Running], Awaitable[Any]]
    code: grpc.StatusCode
    reason: str
    env: dict[str, str] = field(default_factory=dict)


def _admin(server: Running) -> admin_pb2_grpc.AdminServiceStub:
    return admin_pb2_grpc.AdminServiceStub(server.admin_channel)


KEY = "caller-key-for-the-error-table"
AUTH = {"keys": [caller_key("limited", KEY, ("a/*",))]}
EXPIRED = {"keys": [caller_key("old", KEY, expires_at="2020-01-01T00:00:00Z")]}


def _as_caller(request: generate_pb2.GenerateRequest, key: str = KEY) -> Callable[[Running], Any]:
    return lambda s: s.stub.Generate(request, metadata=bearer(key))


def _generate(request: generate_pb2.GenerateRequest = PROMPT) -> Callable[[Running], Any]:
    return lambda s: s.stub.Generate(request)


async def _stream(server: Running) -> None:
    async for _ in server.stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt="hi")):
        pass


async def _cut_by_shutdown(server: Running) -> None:
    call = server.stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt="hi"))
    assert (await call.read()).HasField("start")
    await server.app.stop(grace=0)
    while await call.read() is not grpc.aio.EOF:
        pass


async def _validate_twice(server: Running) -> None:
    request = validate_key_pb2.ValidateKeyRequest(
        provider=common_pb2.PROVIDER_KIND_MOCK, api_key="demo-key"
    )
    await server.stub.ValidateKey(request)  # the one token of the bucket
    await server.stub.ValidateKey(request)


ROWS = [
    Row(
        "InvalidRequest",
        make_config(mock_provider("a")),
        _generate(generate_pb2.GenerateRequest()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REQUEST",
    ),
    Row(
        "UnsupportedFeature",
        make_config({**mock_provider("a"), "capabilities": {"tools": False}}),
        _generate(
            generate_pb2.GenerateRequest(prompt="hello", tools=[tools_pb2.Tool(name="lookup")])
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "UNSUPPORTED_FEATURE",
    ),
    Row(
        "ProviderRejectedRequest",
        make_config(mock_provider("a", mode="invalid-request"), mock_provider("b")),
        _generate(),
        grpc.StatusCode.INVALID_ARGUMENT,
        "PROVIDER_REJECTED_REQUEST",
    ),
    Row(
        "NotFound",
        make_config(mock_provider("a")),
        _generate(generate_pb2.GenerateRequest(prompt="x", model="nobody/some-model")),
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND",
    ),
    Row(
        "AllRateLimited",
        make_config(
            mock_provider("a", mode="ratelimit", retry_after_s=30),
            mock_provider("b", mode="ratelimit", retry_after_s=20),
        ),
        _generate(),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "ALL_PROVIDERS_RATE_LIMITED",
    ),
    Row(
        "AllProvidersFailed",
        make_config(mock_provider("a", mode="unhealthy"), mock_provider("b", mode="auth-error")),
        _generate(),
        grpc.StatusCode.UNAVAILABLE,
        "ALL_PROVIDERS_FAILED",
    ),
    Row(
        "StreamInterrupted",
        make_config(
            mock_provider("a", mode="fail-after-n-chunks", fail_after_chunks=1),
            mock_provider("b"),
        ),
        _stream,
        grpc.StatusCode.UNAVAILABLE,
        "STREAM_INTERRUPTED",
    ),
    Row(
        "DeadlineExceeded",
        make_config(mock_provider("a", mode="timeout"), router={"request_timeout": 0.05}),
        _generate(),
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "DEADLINE_EXCEEDED",
    ),
    Row(
        "ServerShuttingDown",
        make_config(mock_provider("a", reply=" ".join(["word"] * 500), chunk_delay_ms=20)),
        _cut_by_shutdown,
        grpc.StatusCode.UNAVAILABLE,
        "SHUTTING_DOWN",
    ),
    Row(
        "ConfigRejected",
        make_config(mock_provider("a"), reload=ADMIN),
        lambda s: _admin(s).ApplyConfig(admin_pb2.ApplyConfigRequest(config_yaml="providers: []")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "CONFIG_REJECTED",
    ),
    Row(
        "ConfigFileRejected",
        make_config(mock_provider("a"), reload=ADMIN),  # started without a file: none to re-read
        lambda s: _admin(s).ReloadConfig(admin_pb2.ReloadConfigRequest()),
        grpc.StatusCode.FAILED_PRECONDITION,
        "CONFIG_FILE_REJECTED",
    ),
    Row(
        "ConfigNotPermitted",
        make_config(mock_provider("a"), reload=ADMIN),
        lambda s: _admin(s).ApplyConfig(
            admin_pb2.ApplyConfigRequest(
                config_yaml="providers: [{name: x, kind: openai, model: m, api_key_env: HOME}]"
            )
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "CONFIG_NOT_PERMITTED",
    ),
    Row(
        "Unauthenticated",
        make_config(mock_provider("a"), reload=ADMIN),
        lambda s: admin_pb2_grpc.AdminServiceStub(s.channel).ReloadConfig(
            admin_pb2.ReloadConfigRequest(), metadata=bearer("wrong")
        ),
        grpc.StatusCode.UNAUTHENTICATED,
        "UNAUTHENTICATED",
    ),
    Row(
        "ApiKeyMissing",
        make_config(mock_provider("a"), auth=AUTH),
        _generate(),
        grpc.StatusCode.UNAUTHENTICATED,
        "API_KEY_MISSING",
    ),
    Row(
        "ApiKeyInvalid",
        make_config(mock_provider("a"), auth=AUTH),
        _as_caller(PROMPT, "not-a-key-of-this-gateway"),
        grpc.StatusCode.UNAUTHENTICATED,
        "API_KEY_INVALID",
    ),
    Row(
        "ApiKeyExpired",
        make_config(mock_provider("a"), auth=EXPIRED),
        _as_caller(PROMPT),
        grpc.StatusCode.UNAUTHENTICATED,
        "API_KEY_EXPIRED",
    ),
    Row(
        "ModelNotAllowed",
        make_config(mock_provider("a"), mock_provider("b"), auth=AUTH),
        _as_caller(generate_pb2.GenerateRequest(prompt="x")),  # every default: b's too
        grpc.StatusCode.PERMISSION_DENIED,
        "MODEL_NOT_ALLOWED",
    ),
    Row(
        "AliasNotAllowed",
        make_config(
            mock_provider("a"), mock_provider("b"), aliases={"both": ["a", "b"]}, auth=AUTH
        ),
        _as_caller(generate_pb2.GenerateRequest(prompt="x", model="both")),
        grpc.StatusCode.PERMISSION_DENIED,
        "ALIAS_NOT_ALLOWED",
    ),
    Row(
        "ProviderNotAllowed",
        make_config(mock_provider("a"), mock_provider("b"), auth=AUTH),
        _as_caller(generate_pb2.GenerateRequest(prompt="x", provider="b")),
        grpc.StatusCode.PERMISSION_DENIED,
        "PROVIDER_NOT_ALLOWED",
    ),
    Row(
        "GatewayRateLimited",
        make_config(mock_provider("a"), validate_key={"rate_limit": {"rate": 0.001, "burst": 1}}),
        _validate_twice,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "GATEWAY_RATE_LIMITED",
    ),
    Row(
        "CollectionUnavailable",
        make_config(
            mock_provider("a"),
            retrieval={
                "collections": [
                    {
                        "name": "docs",
                        "path": "/nonexistent/index",
                        "embedder": {"kind": "hashing"},
                        "required": False,
                    }
                ]
            },
        ),
        lambda s: s.stub.Retrieve(retrieve_pb2.RetrieveRequest(collection="docs", query="q", k=1)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "COLLECTION_UNAVAILABLE",
    ),
]


def test_every_table_row_is_exercised() -> None:
    assert {cls.__name__ for cls in STATUS_TABLE} == {row.error for row in ROWS}


@pytest.mark.parametrize("row", ROWS, ids=[r.error for r in ROWS])
async def test_error_row(row: Row, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in row.env.items():
        monkeypatch.setenv(name, value)
    async with running(row.config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await row.call(server)
    error = caught.value
    assert error.code() == row.code
    assert error_reason(error) == row.reason
    info = detail(error, error_details_pb2.ErrorInfo)
    assert info.domain == "orchestrator.v1"
    assert info.metadata["request_id"]


async def test_invalid_request_names_the_field() -> None:
    request = generate_pb2.GenerateRequest(
        messages=[
            generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content="ok"),
            generate_pb2.ChatMessage(role=generate_pb2.ROLE_SYSTEM, content=" "),
        ],
        params=generate_pb2.GenerationParams(temperature=7.5, top_p=0.0, max_tokens=0),
    )
    async with running(make_config(mock_provider("a"))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(request)
    bad = detail(caught.value, error_details_pb2.BadRequest)
    fields = {v.field for v in bad.field_violations}
    assert fields == {
        "messages[1].role",
        "messages[1].content",
        "params.temperature",
        "params.top_p",
        "params.max_tokens",
    }
    assert "params.temperature" in caught.value.details()


@pytest.mark.parametrize(
    ("request_kwargs", "field"),
    [
        ({"prompt": "x", "messages": [{"role": 2, "content": "y"}]}, "prompt"),
        ({"messages": [{"role": 0, "content": "y"}]}, "messages[0].role"),
        ({"messages": [{"role": 1, "content": "only a system message"}]}, "messages"),
        ({"prompt": "x" * 5000}, "prompt"),
        ({"prompt": "x", "params": {"stop": [""]}}, "params.stop[0]"),
        ({"prompt": "x", "params": {"repetition_penalty": -1}}, "params.repetition_penalty"),
        ({"prompt": "x", "params": {"temperature": float("nan")}}, "params.temperature"),
        ({"prompt": "x", "routing": {"strategy": 99}}, "routing.strategy"),
        ({"prompt": "x", "model": " padded "}, "model"),
    ],
)
async def test_validation_rows(request_kwargs: dict[str, Any], field: str) -> None:
    config = make_config(
        mock_provider("a"), server={"address": "127.0.0.1:0", "limits": {"max_input_chars": 4000}}
    )
    request = generate_pb2.GenerateRequest(**request_kwargs)
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = detail(caught.value, error_details_pb2.BadRequest)
    assert field in {v.field for v in bad.field_violations}


async def test_provider_rejection_does_not_fall_back() -> None:
    config = make_config(mock_provider("a", mode="invalid-request"), mock_provider("b"))
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError):
            await server.stub.Generate(PROMPT)
        assert server.mock("b").calls == 0


async def test_all_failed_lists_the_attempts() -> None:
    config = make_config(
        mock_provider("a", mode="unhealthy"), mock_provider("b", mode="auth-error")
    )
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(PROMPT)
    attempts = trail(caught.value).attempts
    assert {a.provider for a in attempts} == {"a", "b"}
    assert {a.error_code for a in attempts} == {"unavailable", "auth"}


async def test_rate_limited_carries_retry_info() -> None:
    config = make_config(mock_provider("a", mode="ratelimit", retry_after_s=30))
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(PROMPT)
    retry = detail(caught.value, error_details_pb2.RetryInfo)
    assert retry.retry_delay.seconds == 30


async def test_stream_cut_after_first_delta_is_partial_and_never_switches_provider() -> None:
    config = make_config(
        mock_provider("a", mode="fail-after-n-chunks", fail_after_chunks=1, reply="alpha text"),
        mock_provider("b", reply="bravo text"),
    )
    texts: list[str] = []
    async with running(config) as server:
        call = server.stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt="hi"))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for event in call:
                if event.HasField("delta"):
                    texts.append(event.delta.text)
                assert not event.HasField("end")
        assert server.mock("b").calls == 0
    assert texts == ["alpha"]
    assert ("orchestrator-partial-output", "true") in tuple(caught.value.trailing_metadata())
    cut = trail(caught.value)
    assert cut.partial_output
    assert cut.attempts[-1].error_code == "unavailable"


async def test_unexpected_error_is_internal_and_leaks_nothing() -> None:
    async with running(make_config(mock_provider("a"))) as server:

        async def explode(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret sk-live-123 leaked")

        server.app.router.generate = explode  # type: ignore[method-assign]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(PROMPT)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "sk-live" not in caught.value.details()
    assert "request id" in caught.value.details()


async def test_unknown_provider_in_metrics_filter() -> None:
    async with running(make_config(mock_provider("a"))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.GetMetrics(metrics_pb2.GetMetricsRequest(providers=["a", "zz"]))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    bad = detail(caught.value, error_details_pb2.BadRequest)
    assert bad.field_violations[0].field == "providers[1]"
