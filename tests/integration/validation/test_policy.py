"""What ValidateKey refuses before any provider is asked: base URLs off the allow-list,
malformed requests, and calls over its own rate limit. And the mock kind's fixed rules on
the embedded default config."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2

from orchestrator.v1 import validate_key_pb2
from tests.emulators.openai import OpenAIEmulator
from tests.helpers import detail, embedded_config, error_reason, http_provider, running
from tests.integration.validation.common import (
    INVALID_API_KEY,
    NETWORK_TIMEOUT,
    PERMISSION_DENIED,
    PROVIDER_ERROR,
    RATE_LIMIT_EXCEEDED,
    SCOPE_MISMATCH,
    SUCCESS,
    expect,
    seconds,
    started,
    validate,
    validation_config,
)

KEY = "sk-valid-key-for-tests"


@pytest.fixture
async def emulator() -> AsyncIterator[OpenAIEmulator]:
    emulator = OpenAIEmulator()
    emulator.api_key = KEY
    async for running_emulator in started(emulator):
        yield running_emulator


async def refused(config_allowed: dict[str, list[str]], kind: str, **fields: str) -> list[str]:
    """The fields a refused request's BadRequest names (asserting it was refused so)."""
    async with running(validation_config(config_allowed)) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await validate(server, kind, fields.pop("api_key", KEY), **fields)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "INVALID_REQUEST"
    bad = detail(caught.value, error_details_pb2.BadRequest)
    return [v.field for v in bad.field_violations]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",  # another host
        "http://127.0.0.1:1/v1",  # the same host on another port
        "{base}/v1x",  # a path that only starts like the allowed one
        "{base}/v1/../admin",  # a path that climbs out of it
        "{base}/v1/%2e%2e/admin",  # the same, escaped
        "{host}@evil.example/v1",  # user info that hides the real host
        "{base}/v1?next=http://evil.example",  # a query
        "https://{hostport}/v1",  # another scheme
        "file:///etc/passwd",
    ],
)
async def test_a_base_url_off_the_allow_list_is_refused_before_any_call(
    emulator: OpenAIEmulator, url: str
) -> None:
    base = emulator.base_url
    hostport = base.removeprefix("http://")
    named = url.format(base=base, host=base, hostport=hostport)
    fields = await refused({"openai": [base + "/v1"]}, "openai", base_url=named)
    assert fields == ["base_url"]
    assert emulator.requests == []


async def test_an_allowed_base_url_and_a_path_below_it_are_accepted(
    emulator: OpenAIEmulator,
) -> None:
    root = emulator.base_url
    async with running(validation_config({"openai": [root + "/v1"], "ollama": [root]})) as server:
        expect(await validate(server, "openai", KEY, base_url=root + "/v1/"), SUCCESS)
    async with running(validation_config({"openai": [root]})) as server:
        expect(await validate(server, "openai", KEY, base_url=root + "/v1"), SUCCESS)
    assert [r.path for r in emulator.requests] == ["/v1/models", "/v1/models"]


async def test_a_url_above_the_allowed_path_is_refused(emulator: OpenAIEmulator) -> None:
    fields = await refused(
        {"openai": [emulator.base_url + "/v1"]}, "openai", base_url=emulator.base_url
    )
    assert fields == ["base_url"]


async def test_an_allow_list_entry_for_another_kind_does_not_count(
    emulator: OpenAIEmulator,
) -> None:
    fields = await refused(
        {"anthropic": [emulator.base_url]}, "openai", base_url=emulator.base_url + "/v1"
    )
    assert fields == ["base_url"]


async def test_without_base_url_a_configured_provider_of_the_kind_is_checked(
    emulator: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OA_KEY", "sk-the-servers-own-key")
    url = emulator.base_url + "/v1"
    provider = http_provider("openai", "oa", url, model="gpt-4o-mini", api_key_env="OA_KEY")
    async with running(validation_config(None, provider)) as server:
        response = await validate(server, "openai", KEY)
    expect(response, SUCCESS)
    [call] = emulator.requests
    assert call.headers["authorization"] == f"Bearer {KEY}"  # the caller's key, not ours


async def test_without_base_url_and_nothing_allowed_the_request_is_refused() -> None:
    assert await refused({}, "anthropic") == ["base_url"]


@pytest.mark.parametrize(
    ("kind", "fields", "named"),
    [
        ("openai", {"api_key": ""}, ["api_key"]),
        ("openai", {"api_key": "sk-with a space"}, ["api_key"]),
        ("openai", {"api_key": "sk-line\r\nX-Evil: 1"}, ["api_key"]),
        ("openai", {"scope": "GIGACHAT_API_PERS"}, ["scope"]),
        ("gigachat", {"scope": "GIGACHAT_API_EVERYTHING"}, ["scope"]),
        ("openai", {"folder_id": "b1g"}, ["folder_id"]),
        ("yandexgpt", {"folder_id": "b1g/../x"}, ["folder_id"]),
        (
            "openai",
            {"credential_type": validate_key_pb2.CREDENTIAL_TYPE_IAM_TOKEN},
            ["credential_type"],
        ),
        ("openai", {"credential_type": 42}, ["credential_type"]),
        ("mock", {"base_url": "http://127.0.0.1:1"}, ["base_url"]),
    ],
)
async def test_bad_requests_name_the_field(
    kind: str, fields: dict[str, object], named: list[str]
) -> None:
    assert await refused({}, kind, **fields) == named  # type: ignore[arg-type]


async def test_a_missing_provider_is_a_bad_request() -> None:
    async with running(validation_config()) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.ValidateKey(validate_key_pb2.ValidateKeyRequest(api_key=KEY))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = detail(caught.value, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["provider"]


async def test_the_rate_limit_refuses_with_retry_info(emulator: OpenAIEmulator) -> None:
    allowed = emulator.base_url + "/v1"
    config = validation_config({"openai": [allowed]}, rate_limit={"rate": 0.01, "burst": 2})
    async with running(config) as server:
        for _ in range(2):
            expect(await validate(server, "openai", KEY, base_url=allowed), SUCCESS)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await validate(server, "openai", KEY, base_url=allowed)
        # A refused bad request takes no token, so it is still INVALID_ARGUMENT.
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await validate(server, "openai", "", base_url=allowed)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_reason(caught.value) == "GATEWAY_RATE_LIMITED"
    retry = detail(caught.value, error_details_pb2.RetryInfo)
    assert 0 < seconds(retry.retry_delay) <= 100  # one token at 0.01/s
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(emulator.requests) == 2


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("demo-key", SUCCESS),
        ("invalid-key", INVALID_API_KEY),
        ("forbidden-key", PERMISSION_DENIED),
        ("ratelimit-key", RATE_LIMIT_EXCEEDED),
        ("timeout-key", NETWORK_TIMEOUT),
        ("error-key", PROVIDER_ERROR),
        ("scope-key", SCOPE_MISMATCH),
    ],
)
async def test_mock_rules_on_the_embedded_default_config(key: str, code: int) -> None:
    async with running(embedded_config()) as server:
        response = await validate(server, "mock", key)
    expect(response, code)
    assert response.details.attempts == 1
    if code == RATE_LIMIT_EXCEEDED:
        assert seconds(response.retry_after) == 1
