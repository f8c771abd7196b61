"""ValidateKey for GigaChat against its emulator's OAuth host: one scope, and auto-detection
PERS -> B2B -> CORP that moves on only when the host answers code 7 (scope mismatch)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import pytest

from tests.emulators.gigachat import OAUTH, GigaChatEmulator
from tests.helpers import running
from tests.integration.validation.common import (
    INVALID_API_KEY,
    NETWORK_TIMEOUT,
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

KEY = "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQtMDEyMzQ1Njc4OQ=="
PERS, B2B, CORP = "GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP"


@pytest.fixture
async def emulator() -> AsyncIterator[GigaChatEmulator]:
    async for running_emulator in started(GigaChatEmulator(KEY)):
        yield running_emulator


def scopes_asked(emulator: GigaChatEmulator) -> list[str]:
    return [parse_qs(call.body.decode())["scope"][0] for call in emulator.oauth_calls]


async def check(emulator: GigaChatEmulator, key: str = KEY, **fields: str):  # type: ignore[no-untyped-def]
    url = emulator.base_url + OAUTH
    # 0.3 s is plenty for a loopback reply and keeps the timeout case short.
    async with running(validation_config({"gigachat": [url]}, timeout=0.3)) as server:
        return await validate(server, "gigachat", key, base_url=url, **fields)


async def test_a_key_valid_for_the_given_scope(emulator: GigaChatEmulator) -> None:
    emulator.scope = B2B
    response = await check(emulator, scope=B2B)
    expect(response, SUCCESS)
    assert response.details.detected_scope == B2B
    assert list(response.details.tried_scopes) == [B2B]
    assert response.details.attempts == 1
    [call] = emulator.oauth_calls
    assert call.headers["authorization"] == f"Basic {KEY}"
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert response.details.request_id == str(uuid.UUID(call.headers["rquid"]))


async def test_a_given_scope_the_key_does_not_cover_is_a_scope_mismatch(
    emulator: GigaChatEmulator,
) -> None:
    emulator.scope = CORP
    response = await check(emulator, scope=PERS)
    expect(response, SCOPE_MISMATCH)
    assert scopes_asked(emulator) == [PERS]  # a named scope is never auto-detected
    assert response.details.detected_scope == ""


@pytest.mark.parametrize(
    ("covered", "asked"),
    [(PERS, [PERS]), (B2B, [PERS, B2B]), (CORP, [PERS, B2B, CORP])],
)
async def test_auto_detection_tries_pers_then_b2b_then_corp(
    emulator: GigaChatEmulator, covered: str, asked: list[str]
) -> None:
    emulator.scope = covered
    response = await check(emulator)
    expect(response, SUCCESS)
    assert scopes_asked(emulator) == asked
    assert list(response.details.tried_scopes) == asked
    assert response.details.attempts == len(asked)
    assert response.details.detected_scope == covered
    assert seconds(response.details.elapsed) > 0
    assert covered in response.message


async def test_auto_detection_reports_a_mismatch_when_no_scope_fits(
    emulator: GigaChatEmulator,
) -> None:
    emulator.scope = "GIGACHAT_API_OTHER"
    response = await check(emulator)
    expect(response, SCOPE_MISMATCH)
    assert scopes_asked(emulator) == [PERS, B2B, CORP]
    assert response.details.attempts == 3
    assert "none of" in response.message


async def test_auto_detection_stops_at_once_on_an_invalid_key(emulator: GigaChatEmulator) -> None:
    response = await check(emulator, key="d3Jvbmc6a2V5")
    expect(response, INVALID_API_KEY)
    assert scopes_asked(emulator) == [PERS]
    assert list(response.details.tried_scopes) == [PERS]


async def test_auto_detection_stops_at_once_on_a_rate_limit(emulator: GigaChatEmulator) -> None:
    emulator.scope_failures = {PERS: "scope", B2B: "rate"}
    emulator.oauth_retry_after = "7"
    response = await check(emulator)
    expect(response, RATE_LIMIT_EXCEEDED)
    assert scopes_asked(emulator) == [PERS, B2B]  # CORP never asked
    assert seconds(response.retry_after) == 7
    assert response.details.attempts == 2


async def test_auto_detection_stops_at_once_on_a_timeout(emulator: GigaChatEmulator) -> None:
    emulator.scope_failures = {PERS: "scope", B2B: "hang"}
    response = await check(emulator)
    expect(response, NETWORK_TIMEOUT)
    assert scopes_asked(emulator) == [PERS, B2B]
    assert list(response.details.tried_scopes) == [PERS, B2B]


async def test_auto_detection_stops_at_once_on_a_server_error(emulator: GigaChatEmulator) -> None:
    emulator.oauth_error = "server"
    response = await check(emulator)
    expect(response, PROVIDER_ERROR)
    assert scopes_asked(emulator) == [PERS]
