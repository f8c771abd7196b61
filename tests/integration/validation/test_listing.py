"""ValidateKey for OpenAI-compatible, Anthropic and Gemini (a free model-listing GET) and
Ollama (reachability), against their emulators: one case per error code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from orchestrator.v1 import validate_key_pb2
from tests.emulators.anthropic import AnthropicEmulator
from tests.emulators.base import Emulator
from tests.emulators.gemini import REGION_UNSUPPORTED, GeminiEmulator
from tests.emulators.ollama import OllamaEmulator
from tests.emulators.openai import QUOTA_ERROR, OpenAIEmulator
from tests.helpers import running
from tests.integration.validation.common import (
    INVALID_API_KEY,
    KINDS,
    NETWORK_TIMEOUT,
    PERMISSION_DENIED,
    PROVIDER_ERROR,
    RATE_LIMIT_EXCEEDED,
    SUCCESS,
    expect,
    seconds,
    started,
    validate,
    validation_config,
)

KEY = "sk-valid-key-for-tests"


def _openai() -> Emulator:
    emulator = OpenAIEmulator()
    emulator.api_key = KEY
    return emulator


def _anthropic() -> Emulator:
    emulator = AnthropicEmulator()
    emulator.expected_key = KEY
    return emulator


def _gemini() -> Emulator:
    emulator = GeminiEmulator()
    emulator.api_key = KEY
    return emulator


def _ollama() -> Emulator:
    emulator = OllamaEmulator()
    emulator.require_key = KEY
    return emulator


@dataclass(frozen=True)
class Case:
    kind: str
    emulator: Callable[[], Emulator]
    base_path: str  # below the emulator's URL, as a configured base_url would be
    path: str  # the request the check makes
    auth: tuple[str, str]  # the header that carries the key, and its value

    def __str__(self) -> str:
        return self.kind


CASES = [
    Case("openai", _openai, "/v1", "/v1/models", ("authorization", f"Bearer {KEY}")),
    Case("anthropic", _anthropic, "", "/v1/models", ("x-api-key", KEY)),
    Case("gemini", _gemini, "", "/v1beta/models", ("x-goog-api-key", KEY)),
    Case("ollama", _ollama, "", "/api/version", ("authorization", f"Bearer {KEY}")),
]
LISTING = [c for c in CASES if c.kind != "ollama"]


@dataclass
class Upstream:
    case: Case
    emulator: Emulator

    @property
    def base_url(self) -> str:
        return self.emulator.base_url + self.case.base_path

    async def check(self, key: str = KEY, **section: Any) -> validate_key_pb2.ValidateKeyResponse:
        config = validation_config({self.case.kind: [self.base_url]}, **section)
        async with running(config) as server:
            return await validate(server, self.case.kind, key, base_url=self.base_url)


def upstream_fixture(cases: list[Case]) -> Any:
    @pytest.fixture(params=cases, ids=str)
    async def fixture(request: pytest.FixtureRequest) -> AsyncIterator[Upstream]:
        case: Case = request.param
        async for emulator in started(case.emulator()):
            yield Upstream(case, emulator)

    return fixture


upstream = upstream_fixture(CASES)
listing = upstream_fixture(LISTING)


async def test_a_valid_key(upstream: Upstream) -> None:
    response = await upstream.check()
    expect(response, SUCCESS)
    [call] = upstream.emulator.requests
    assert (call.method, call.path) == ("GET", upstream.case.path)
    name, value = upstream.case.auth
    assert call.headers[name] == value
    assert call.query == {}  # never ?key=: URLs end up in logs
    assert response.details.attempts == 1


async def test_a_wrong_key_is_invalid(upstream: Upstream) -> None:
    response = await upstream.check("sk-wrong-key")
    expect(response, INVALID_API_KEY)
    assert len(upstream.emulator.requests) == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [(403, PERMISSION_DENIED), (500, PROVIDER_ERROR), (503, PROVIDER_ERROR)],
)
async def test_http_statuses(upstream: Upstream, status: int, code: int) -> None:
    upstream.emulator.set(mode="error", status=status)
    expect(await upstream.check(), code)


async def test_a_rate_limit_carries_retry_after(upstream: Upstream) -> None:
    upstream.emulator.set(mode="error", status=429, retry_after="12")
    response = await upstream.check()
    expect(response, RATE_LIMIT_EXCEEDED)
    assert seconds(response.retry_after) == 12


async def test_no_answer_in_time_is_a_network_timeout(upstream: Upstream) -> None:
    upstream.emulator.set(mode="hang")
    response = await upstream.check(timeout=0.3)
    expect(response, NETWORK_TIMEOUT)


async def test_listings_report_the_request_id(listing: Upstream) -> None:
    response = await listing.check()
    if listing.case.kind == "gemini":
        assert response.details.request_id == ""  # Gemini sends none we know of
    else:
        assert response.details.request_id.startswith("req_")


async def test_openai_billing_429_is_permission_denied_not_a_rate_limit() -> None:
    async for emulator in started(_openai()):
        emulator.set(mode="error", status=429, error_body=QUOTA_ERROR)
        response = await Upstream(CASES[0], emulator).check()
    expect(response, PERMISSION_DENIED)
    assert response.retry_after.seconds == 0
    assert "quota" in response.message


async def test_gemini_region_without_access_is_permission_denied() -> None:
    async for emulator in started(_gemini()):
        emulator.set(mode="error", status=400, error_body=REGION_UNSUPPORTED)
        response = await Upstream(CASES[2], emulator).check()
    expect(response, PERMISSION_DENIED)


async def test_ollama_without_a_key_checks_reachability() -> None:
    async for emulator in started(OllamaEmulator()):
        response = await Upstream(CASES[3], emulator).check("")
        [call] = emulator.requests
    expect(response, SUCCESS)
    assert "0.12.6" in response.message
    assert "authorization" not in call.headers


async def test_an_unreachable_endpoint_is_a_provider_error() -> None:
    emulator = _ollama()
    await emulator.start()
    await emulator.stop()  # the port is closed now
    response = await Upstream(CASES[3], emulator).check()
    expect(response, PROVIDER_ERROR)


class OddUpstream(Emulator):
    """A 200 that is not a listing, and a redirect to another host."""

    def __init__(self, elsewhere: str = "") -> None:
        super().__init__()
        self.elsewhere = elsewhere

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/html/models", self.html),
            web.get("/moved/models", self.moved),
            web.get("/v1/models", self.not_a_list),
        ]

    async def html(self, request: web.Request) -> web.Response:
        await self.record(request)
        return web.Response(text="<html>Sign in to the Wi-Fi</html>", content_type="text/html")

    async def not_a_list(self, request: web.Request) -> web.Response:
        await self.record(request)
        return web.json_response({"data": "gpt-4o"})

    async def moved(self, request: web.Request) -> web.Response:
        await self.record(request)
        raise web.HTTPFound(self.elsewhere + "/v1/models")


@pytest.mark.parametrize("path", ["/html", "/v1"])
async def test_a_200_that_is_not_a_listing_is_a_provider_error(path: str) -> None:
    async for emulator in started(OddUpstream()):
        url = emulator.base_url + path
        async with running(validation_config({"openai": [url]})) as server:
            response = await validate(server, "openai", KEY, base_url=url)
    expect(response, PROVIDER_ERROR)
    assert "200" in response.message


async def test_redirects_are_not_followed() -> None:
    async for target in started(_openai()):
        async for emulator in started(OddUpstream(target.base_url)):
            url = emulator.base_url + "/moved"
            async with running(validation_config({"openai": [url]})) as server:
                response = await validate(server, "openai", KEY, base_url=url)
        assert target.requests == []  # the key never went to the other host
    expect(response, PROVIDER_ERROR)
    assert "redirect" in response.message


async def test_a_short_caller_deadline_still_gets_a_verdict() -> None:
    async for emulator in started(_openai()):
        emulator.set(mode="hang")
        url = emulator.base_url + "/v1"
        async with running(validation_config({"openai": [url]}, timeout=30)) as server:
            request = validate_key_pb2.ValidateKeyRequest(
                provider=KINDS["openai"], api_key=KEY, base_url=url
            )
            response = await server.stub.ValidateKey(request, timeout=2.0)
    expect(response, NETWORK_TIMEOUT)
