"""What the ValidateKey integration tests share: a server whose allow-list holds the
emulators (and no public endpoint, so nothing can leave the machine), and a short call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from orchestrator.v1 import common_pb2, validate_key_pb2
from orchestrator_server.config import Config
from tests.emulators.base import Emulator
from tests.helpers import Running, make_config, mock_provider

KINDS = {
    "mock": common_pb2.PROVIDER_KIND_MOCK,
    "gigachat": common_pb2.PROVIDER_KIND_GIGACHAT,
    "yandexgpt": common_pb2.PROVIDER_KIND_YANDEXGPT,
    "ollama": common_pb2.PROVIDER_KIND_OLLAMA,
    "openai": common_pb2.PROVIDER_KIND_OPENAI_COMPATIBLE,
    "anthropic": common_pb2.PROVIDER_KIND_ANTHROPIC,
    "gemini": common_pb2.PROVIDER_KIND_GEMINI,
}
Code = validate_key_pb2.ValidationErrorCode
SUCCESS = validate_key_pb2.VALIDATION_ERROR_CODE_SUCCESS
INVALID_API_KEY = validate_key_pb2.VALIDATION_ERROR_CODE_INVALID_API_KEY
SCOPE_MISMATCH = validate_key_pb2.VALIDATION_ERROR_CODE_SCOPE_MISMATCH
PERMISSION_DENIED = validate_key_pb2.VALIDATION_ERROR_CODE_PERMISSION_DENIED
RATE_LIMIT_EXCEEDED = validate_key_pb2.VALIDATION_ERROR_CODE_RATE_LIMIT_EXCEEDED
NETWORK_TIMEOUT = validate_key_pb2.VALIDATION_ERROR_CODE_NETWORK_TIMEOUT
PROVIDER_ERROR = validate_key_pb2.VALIDATION_ERROR_CODE_PROVIDER_ERROR
VALIDATION_ERROR = validate_key_pb2.VALIDATION_ERROR_CODE_VALIDATION_ERROR


def validation_config(
    allowed: dict[str, list[str]] | None = None,
    *providers: dict[str, Any],
    **section: Any,
) -> Config:
    """A mock provider (plus `providers`), and a validate_key section allowing `allowed`
    only. A timeout of 1 s keeps the timeout cases short; the rate limit is out of the way
    unless a test sets its own."""
    settings: dict[str, Any] = {
        "official_endpoints": False,
        "allowed_base_urls": allowed or {},
        "timeout": 1.0,
        "rate_limit": {"rate": 1000, "burst": 1000},
        **section,
    }
    return make_config(mock_provider("m"), *providers, validate_key=settings)


async def validate(
    server: Running, kind: str, key: str, **fields: Any
) -> validate_key_pb2.ValidateKeyResponse:
    request = validate_key_pb2.ValidateKeyRequest(provider=KINDS[kind], api_key=key, **fields)
    response: validate_key_pb2.ValidateKeyResponse = await server.stub.ValidateKey(
        request, timeout=10
    )
    return response


async def started(emulator: Emulator) -> AsyncIterator[Any]:
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


def code_name(code: int) -> str:
    return str(validate_key_pb2.ValidationErrorCode.Name(code))  # type: ignore[arg-type]


def expect(response: validate_key_pb2.ValidateKeyResponse, code: int) -> None:
    """The verdict's code, with the message in the failure output."""
    assert code_name(response.error_code) == code_name(code), response.message
    assert response.valid == (code == SUCCESS)


def seconds(duration: Any) -> float:
    return float(duration.seconds) + duration.nanos / 1e9
