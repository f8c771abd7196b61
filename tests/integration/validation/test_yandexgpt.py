"""ValidateKey for YandexGPT: a tokenize call with the folder's model, as an API key
(`Api-Key`) or an IAM token (`Bearer` plus `x-folder-id`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from orchestrator.v1 import validate_key_pb2
from tests.emulators.yandexgpt import YandexGptEmulator
from tests.helpers import detail, running
from tests.integration.validation.common import (
    INVALID_API_KEY,
    PERMISSION_DENIED,
    PROVIDER_ERROR,
    RATE_LIMIT_EXCEEDED,
    SUCCESS,
    VALIDATION_ERROR,
    expect,
    seconds,
    started,
    validate,
    validation_config,
)

API_KEY = "AQVN1yandex-api-key-for-tests"
IAM_TOKEN = "t1.9euelZqYyandex-iam-token-for-tests"
FOLDER = "b1gemulatedfolder"
IAM = validate_key_pb2.CREDENTIAL_TYPE_IAM_TOKEN
TOKENIZE = "/foundationModels/v1/tokenize"


@pytest.fixture
async def emulator() -> AsyncIterator[YandexGptEmulator]:
    emulator = YandexGptEmulator()
    emulator.credentials = {f"Api-Key {API_KEY}", f"Bearer {IAM_TOKEN}"}
    emulator.folders = {FOLDER}
    async for running_emulator in started(emulator):
        yield running_emulator


async def check(
    emulator: YandexGptEmulator, key: str = API_KEY, **fields: Any
) -> validate_key_pb2.ValidateKeyResponse:
    fields.setdefault("folder_id", FOLDER)
    async with running(validation_config({"yandexgpt": [emulator.base_url]})) as server:
        return await validate(server, "yandexgpt", key, base_url=emulator.base_url, **fields)


async def test_an_api_key_with_its_folder(emulator: YandexGptEmulator) -> None:
    response = await check(emulator)
    expect(response, SUCCESS)
    [call] = emulator.calls(TOKENIZE)
    assert call.headers["authorization"] == f"Api-Key {API_KEY}"
    assert "x-folder-id" not in call.headers  # a service account's folder is implied
    assert call.json()["modelUri"] == f"gpt://{FOLDER}/yandexgpt-lite/latest"
    assert response.details.request_id == call.headers["x-client-request-id"]
    assert response.details.attempts == 1


async def test_an_iam_token_goes_as_bearer_with_the_folder_header(
    emulator: YandexGptEmulator,
) -> None:
    response = await check(emulator, IAM_TOKEN, credential_type=IAM)
    expect(response, SUCCESS)
    [call] = emulator.calls(TOKENIZE)
    assert call.headers["authorization"] == f"Bearer {IAM_TOKEN}"
    assert call.headers["x-folder-id"] == FOLDER


async def test_an_api_key_sent_as_an_iam_token_is_invalid(emulator: YandexGptEmulator) -> None:
    expect(await check(emulator, API_KEY, credential_type=IAM), INVALID_API_KEY)


async def test_an_unknown_key_is_invalid(emulator: YandexGptEmulator) -> None:
    response = await check(emulator, "AQVNsome-other-key")
    expect(response, INVALID_API_KEY)
    assert "401" in response.message


async def test_a_folder_without_the_role_is_permission_denied(emulator: YandexGptEmulator) -> None:
    response = await check(emulator, folder_id="b1gsomeoneelse")
    expect(response, PERMISSION_DENIED)
    assert "b1gsomeoneelse" in response.message  # Yandex's own words, kept


async def test_a_folder_the_service_account_is_not_in_is_a_validation_error(
    emulator: YandexGptEmulator,
) -> None:
    emulator.service_account_folder = "b1gtheaccountsown"
    response = await check(emulator, IAM_TOKEN, credential_type=IAM)
    expect(response, VALIDATION_ERROR)
    assert "does not match" in response.message


async def test_a_quota_429_is_rate_limited_with_retry_after(emulator: YandexGptEmulator) -> None:
    emulator.set(mode="error", status=429, retry_after="3")
    response = await check(emulator)
    expect(response, RATE_LIMIT_EXCEEDED)
    assert seconds(response.retry_after) == 3


@pytest.mark.parametrize("status", [500, 503, 504])
async def test_server_errors_are_provider_errors(emulator: YandexGptEmulator, status: int) -> None:
    emulator.set(mode="error", status=status)
    expect(await check(emulator), PROVIDER_ERROR)


async def test_a_missing_folder_is_a_bad_request(emulator: YandexGptEmulator) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await check(emulator, folder_id="")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = detail(caught.value, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["folder_id"]
    assert emulator.requests == []
