"""The key a caller validates never comes back or gets logged: not in the response, not in
a status's details, not in any log record, for every outcome, even when the provider echoes
the key in its error text."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from tests.emulators.anthropic import AnthropicEmulator, error_obj
from tests.emulators.gemini import GeminiEmulator
from tests.emulators.gigachat import OAUTH, GigaChatEmulator
from tests.emulators.ollama import OllamaEmulator
from tests.emulators.openai import OpenAIEmulator
from tests.emulators.yandexgpt import YandexGptEmulator, error_body
from tests.helpers import Running, running
from tests.integration.validation.common import (
    INVALID_API_KEY,
    NETWORK_TIMEOUT,
    PERMISSION_DENIED,
    PROVIDER_ERROR,
    RATE_LIMIT_EXCEEDED,
    SCOPE_MISMATCH,
    SUCCESS,
    VALIDATION_ERROR,
    code_name,
    expect,
    validate,
    validation_config,
)

KEY = "CANARY-key-7c1e-do-not-show"


@dataclass
class Upstreams:
    openai: OpenAIEmulator
    anthropic: AnthropicEmulator
    gemini: GeminiEmulator
    gigachat: GigaChatEmulator
    yandex: YandexGptEmulator
    ollama: OllamaEmulator

    def allowed(self) -> dict[str, list[str]]:
        return {
            "openai": [self.openai.base_url + "/v1"],
            "anthropic": [self.anthropic.base_url],
            "gemini": [self.gemini.base_url],
            "gigachat": [self.gigachat.base_url + OAUTH],
            "yandexgpt": [self.yandex.base_url],
            "ollama": [self.ollama.base_url],
        }


@pytest.fixture
async def upstreams() -> AsyncIterator[Upstreams]:
    found = Upstreams(
        OpenAIEmulator(),
        AnthropicEmulator(),
        GeminiEmulator(),
        GigaChatEmulator(),
        YandexGptEmulator(),
        OllamaEmulator(),
    )
    emulators = list(vars(found).values())
    for emulator in emulators:
        await emulator.start()
    try:
        yield found
    finally:
        for emulator in emulators:
            await emulator.stop()


Call = Callable[[Running, Upstreams], Awaitable[Any]]


def _on(kind: str, **fields: Any) -> Call:
    async def call(server: Running, up: Upstreams) -> Any:
        url = up.allowed()[kind][0]
        return await validate(server, kind, fields.pop("key", KEY), base_url=url, **fields)

    return call


def _setup(up: Upstreams, code: str) -> None:
    echo = f"key {KEY} is not valid"
    if code == "INVALID_API_KEY":
        up.openai.set(mode="error", status=401, error_body={"error": {"message": echo}})
    elif code == "SCOPE_MISMATCH":
        up.gigachat.scope = "GIGACHAT_API_CORP"
    elif code == "PERMISSION_DENIED":
        up.gemini.set(mode="error", status=403)  # Google's text names "api_key:<the key>"
    elif code == "RATE_LIMIT_EXCEEDED":
        body = error_obj("rate_limit_error", echo)
        up.anthropic.set(mode="error", status=429, retry_after="2", error_body=body)
    elif code == "NETWORK_TIMEOUT":
        up.ollama.set(mode="hang")
    elif code == "PROVIDER_ERROR":
        up.openai.set(mode="error", status=500, error_body={"error": {"message": echo}})
    elif code == "VALIDATION_ERROR":
        up.yandex.set(mode="error", status=400, error_body=error_body(400, echo))


CASES: dict[str, tuple[int, Call]] = {
    "SUCCESS": (SUCCESS, _on("openai")),
    "INVALID_API_KEY": (INVALID_API_KEY, _on("openai")),
    "SCOPE_MISMATCH": (SCOPE_MISMATCH, _on("gigachat", scope="GIGACHAT_API_PERS")),
    "PERMISSION_DENIED": (PERMISSION_DENIED, _on("gemini")),
    "RATE_LIMIT_EXCEEDED": (RATE_LIMIT_EXCEEDED, _on("anthropic")),
    "NETWORK_TIMEOUT": (NETWORK_TIMEOUT, _on("ollama")),
    "PROVIDER_ERROR": (PROVIDER_ERROR, _on("openai")),
    "VALIDATION_ERROR": (VALIDATION_ERROR, _on("yandexgpt", folder_id="b1gfolder")),
}


def test_every_code_is_covered() -> None:
    from orchestrator.v1 import validate_key_pb2

    every = {
        name.removeprefix("VALIDATION_ERROR_CODE_")
        for name in validate_key_pb2.ValidationErrorCode.keys()  # noqa: SIM118
    } - {"UNSPECIFIED"}
    assert set(CASES) == every


@pytest.mark.parametrize("code", list(CASES))
async def test_no_verdict_shows_or_logs_the_key(
    upstreams: Upstreams, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    expected, call = CASES[code]
    _setup(upstreams, code)
    config = validation_config(upstreams.allowed(), timeout=0.3)
    async with running(config) as server:
        response = await call(server, upstreams)
    expect(response, expected)
    # The outcome is logged, the key is not.
    assert f"outcome={code_name(expected).removeprefix('VALIDATION_ERROR_CODE_')}" in caplog.text
    shown = f"{response} {response.SerializeToString()!r}"
    assert KEY not in shown
    assert KEY not in caplog.text
    assert all(KEY not in str(r.args) for r in caplog.records)


@pytest.mark.parametrize(
    "fields",
    [
        {"api_key": KEY + " with a space"},  # the key itself is the bad field
        {"api_key": KEY, "base_url": "http://evil.example/v1"},
        {"api_key": KEY, "scope": "GIGACHAT_API_PERS"},
    ],
    ids=["bad-key", "bad-base-url", "bad-scope"],
)
async def test_no_refusal_shows_or_logs_the_key(
    upstreams: Upstreams, fields: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(validation_config(upstreams.allowed())) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await validate(server, "openai", fields.pop("api_key"), **fields)
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert KEY not in f"{error.details()} {error.trailing_metadata()} {error.debug_error_string()}"
    assert KEY not in caplog.text


async def test_the_rate_limit_refusal_does_not_show_the_key(upstreams: Upstreams) -> None:
    config = validation_config(upstreams.allowed(), rate_limit={"rate": 0.01, "burst": 1})
    async with running(config) as server:
        await _on("openai")(server, upstreams)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _on("openai")(server, upstreams)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert KEY not in f"{caught.value.details()} {caught.value.trailing_metadata()}"
