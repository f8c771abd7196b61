"""The provider contract table: one `ProviderCase` per adapter kind.

Every HTTP adapter must behave alike wherever the wire formats allow it: the same errors
classified the same way, fallback and partial streams, timeouts, cancellation, secrets kept
out of what the caller sees. `test_provider_contract.py` runs those scenarios against every
case below; the per-provider files (`test_<kind>.py`) keep what only that provider does.

A case says how to start the provider's emulator (switched to check the key it is sent),
how to point a config entry at it, and the few facts in which kinds legitimately differ.
To add a provider: write its emulator in `tests/emulators/`, add a case to `PROVIDERS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

import grpc
import pytest

from tests.emulators.anthropic import CREDIT_ERROR, FRAMES_BEFORE_TEXT, AnthropicEmulator
from tests.emulators.base import Emulator, Recorded
from tests.emulators.gemini import API_KEY_INVALID, REGION_UNSUPPORTED, GeminiEmulator
from tests.emulators.gigachat import CHAT as GIGACHAT_CHAT
from tests.emulators.gigachat import MODELS as GIGACHAT_MODELS
from tests.emulators.gigachat import OAUTH as GIGACHAT_OAUTH
from tests.emulators.gigachat import GigaChatEmulator
from tests.emulators.ollama import OllamaEmulator
from tests.emulators.openai import QUOTA_ERROR, OpenAIEmulator
from tests.emulators.yandexgpt import YandexGptEmulator
from tests.helpers import http_provider

E = TypeVar("E", bound=Emulator)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


@dataclass(frozen=True)
class ErrorCase:
    """An upstream failure and what the gateway makes of it, for a provider configured
    with `retries: 1`."""

    id: str
    behaviour: Mapping[str, Any]  # `Emulator.set(**behaviour)`
    code: grpc.StatusCode  # the caller's status when no other provider is configured
    error_code: str  # every attempt's error_code
    calls: int  # generation requests upstream: 2 when the failure is worth a retry
    token_calls: int = 1  # token fetches, for a provider with a `token_path`

    @property
    def falls_back(self) -> bool:
        """Whether the next provider is tried: always, unless the caller's request is bad."""
        return self.code != INVALID


def http_error(
    status: int,
    code: grpc.StatusCode,
    error_code: str,
    calls: int,
    *,
    id: str | None = None,
    token_calls: int = 1,
    **behaviour: Any,
) -> ErrorCase:
    """An HTTP error status; `behaviour` adds Behaviour fields (error_body, retry_after)."""
    return ErrorCase(
        id or str(status),
        {"mode": "error", "status": status, **behaviour},
        code,
        error_code,
        calls,
        token_calls,
    )


# What every provider's errors mean, unless its case replaces an entry (same id).
COMMON_ERRORS: tuple[ErrorCase, ...] = (
    http_error(400, INVALID, "invalid_request", 1),
    http_error(401, UNAVAILABLE, "auth", 1),
    http_error(403, UNAVAILABLE, "permission", 1),
    http_error(404, UNAVAILABLE, "not_found", 1),
    http_error(429, EXHAUSTED, "rate_limited", 2, id="429-retry-after-0", retry_after="0"),
    http_error(429, EXHAUSTED, "rate_limited", 2),
    http_error(500, UNAVAILABLE, "unavailable", 2),
    http_error(502, UNAVAILABLE, "unavailable", 2),
    http_error(503, UNAVAILABLE, "unavailable", 2),
    http_error(504, UNAVAILABLE, "timeout", 2),
    ErrorCase("malformed", {"mode": "malformed"}, UNAVAILABLE, "malformed_response", 2),
)


@dataclass(frozen=True)
class Unterminated:
    """How to make the emulator end a stream cleanly but without its final frame (a done
    line, a final status, message_stop), and the error_code the attempt then gets."""

    switches: Mapping[str, Any]  # emulator attributes
    error_code: str

    def apply(self, emulator: Emulator) -> None:
        set_switches(emulator, self.switches)


def error_table(*own: ErrorCase) -> tuple[ErrorCase, ...]:
    """`COMMON_ERRORS` with the provider's own cases: one of the same id replaces the
    common one, the others follow."""
    by_id = {case.id: case for case in own}
    common = tuple(by_id.pop(case.id, case) for case in COMMON_ERRORS)
    return common + tuple(by_id.values())


def _no_secrets(emulator: Any) -> Iterable[str]:
    return ()


@dataclass(frozen=True, kw_only=True)
class ProviderCase(Generic[E]):
    """One provider kind under the contract."""

    # How to run it.
    kind: str  # the config `kind`; also the test id
    name: str  # the provider's name in the config
    emulator: Callable[[], E]  # a new emulator, switched to check the key; not started
    key_env: str  # the variable `api_key_env` names, set to `key` for each test
    key: str
    fields: Mapping[str, Any]  # the rest of the entry; "{base_url}" is the emulator's URL
    base_path: str = ""  # appended to the emulator's URL for the entry's `base_url`
    # Where its requests go.
    chat_path: str
    stream_path: str | None = None  # streaming requests, when not to `chat_path`
    health: tuple[str, str]  # (method, path) of the request `check_health` makes
    token_path: str | None = None  # a token endpoint the adapter calls before the API
    # What its streams look like.
    frames_before_text: int = 0  # frames before the first one that carries text
    error_before_text_at: int = 0  # `cut_after` for an in-stream error before any text
    stream_error: str  # the message of the emulator's in-stream error frame
    unterminated: Unterminated | None = None  # None: the emulator has no such switch
    # What its errors mean.
    errors: tuple[ErrorCase, ...] = COMMON_ERRORS
    fallback_on: tuple[str, ...] = ("401",)  # ids in `errors` also tried with a backup
    secrets: Callable[[E], Iterable[str]] = _no_secrets  # never shown either, besides `key`

    def error(self, id: str) -> ErrorCase:
        [found] = (case for case in self.errors if case.id == id)
        return found

    def entry(self, emulator: Emulator, **fields: Any) -> dict[str, Any]:
        """The config entry for this provider at `emulator`; `fields` override."""
        defaults = {
            name: value.format(base_url=emulator.base_url) if isinstance(value, str) else value
            for name, value in self.fields.items()
        }
        return http_provider(
            self.kind,
            self.name,
            emulator.base_url + self.base_path,
            **{**defaults, "api_key_env": self.key_env, **fields},
        )

    @asynccontextmanager
    async def running(self, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[E]:
        """The emulator, started, with the key in the environment."""
        monkeypatch.setenv(self.key_env, self.key)
        emulator = self.emulator()
        await emulator.start()
        try:
            yield emulator
        finally:
            await emulator.stop()


def emulator_fixture(case: ProviderCase[E]) -> Any:
    """A per-provider test file's `emulator` fixture: `emulator = emulator_fixture(CASE)`."""

    @pytest.fixture(name="emulator")
    async def fixture(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[E]:
        async with case.running(monkeypatch) as emulator:
            yield emulator

    return fixture


@dataclass
class Upstream(Generic[E]):
    """A case with its emulator running: what the contract tests talk to."""

    case: ProviderCase[E]
    emulator: E

    def entry(self, **fields: Any) -> dict[str, Any]:
        return self.case.entry(self.emulator, **fields)

    def calls(self, *, streaming: bool = False) -> list[Recorded]:
        """The generation requests it received (streaming ones, if they go elsewhere)."""
        path = self.case.stream_path if streaming and self.case.stream_path else None
        return self.emulator.calls(path or self.case.chat_path)

    def token_calls(self) -> list[Recorded]:
        return [] if self.case.token_path is None else self.emulator.calls(self.case.token_path)

    def shows_no_secret(self, shown: str) -> bool:
        secrets = [self.case.key, *self.case.secrets(self.emulator)]
        return not any(secret in shown for secret in secrets)


def set_switches(emulator: Emulator, switches: Mapping[str, Any]) -> None:
    """Sets an emulator's own switches (attributes beyond the common Behaviour)."""
    for name, value in switches.items():
        setattr(emulator, name, value)


def switched(make: Callable[[], E], **switches: Any) -> Callable[[], E]:
    """A factory for `make()` with some of its own switches set."""

    def factory() -> E:
        emulator = make()
        set_switches(emulator, switches)
        return emulator

    return factory


# --- the cases: fields in the order of ProviderCase ----------------------------------------

OPENAI_ERRORS = error_table(
    # A 429 whose body says the account is out of credit is a quota, not a rate limit.
    http_error(429, EXHAUSTED, "quota", 1, id="429-insufficient-quota", error_body=QUOTA_ERROR),
    ErrorCase("malformed", {"mode": "malformed"}, UNAVAILABLE, "malformed_response", 2),
)

OPENAI = ProviderCase[OpenAIEmulator](
    kind="openai",
    name="oai",
    emulator=OpenAIEmulator,
    key_env="OPENAI_TEST_KEY",
    key="sk-test-0123456789abcdefghijklmnopqrstuv",
    fields={"model": "gpt-4o-mini", "organization": "org-1"},
    base_path="/v1",
    chat_path="/v1/chat/completions",
    health=("GET", "/v1/models"),
    frames_before_text=1,  # the role frame, with empty content
    error_before_text_at=1,
    stream_error="The server had an error",
    errors=OPENAI_ERRORS,
)

# The same adapter, with deployment URLs, an api-version query and an `api-key` header.
AZURE_OPENAI = ProviderCase[OpenAIEmulator](
    kind="azure-openai",
    name="az",
    emulator=OpenAIEmulator,
    key_env="AZURE_TEST_KEY",
    key="azure-key-0123456789abcdefghij",
    fields={"model": "gpt-4o", "deployment": "prod-gpt4o", "api_version": "2024-10-21"},
    chat_path="/openai/deployments/prod-gpt4o/chat/completions",
    health=("GET", "/openai/models"),
    frames_before_text=1,
    error_before_text_at=1,
    stream_error="The server had an error",
    errors=OPENAI_ERRORS,
)

GIGACHAT_KEY = "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQtMDEyMzQ1Njc4OQ=="  # base64 of "id:secret"
GIGACHAT = ProviderCase[GigaChatEmulator](
    kind="gigachat",
    name="giga",
    emulator=partial(GigaChatEmulator, GIGACHAT_KEY, scope="GIGACHAT_API_PERS"),
    key_env="GIGACHAT_TEST_KEY",
    key=GIGACHAT_KEY,
    fields={"model": "GigaChat", "auth_url": "{base_url}" + GIGACHAT_OAUTH},
    base_path="/api/v1",
    chat_path=GIGACHAT_CHAT,
    health=("GET", GIGACHAT_MODELS),
    token_path=GIGACHAT_OAUTH,
    stream_error="Internal Server Error",
    errors=error_table(
        # A 401 fetches a new token and retries once; the second 401 is AUTH.
        http_error(401, UNAVAILABLE, "auth", 2, token_calls=2),
        http_error(402, EXHAUSTED, "quota", 1),
        http_error(413, INVALID, "invalid_request", 1),
        http_error(422, INVALID, "invalid_request", 1),
    ),
    fallback_on=("401", "403"),  # with and without a token refresh on the way
    secrets=lambda emulator: emulator.tokens,
)

YANDEXGPT = ProviderCase[YandexGptEmulator](
    kind="yandexgpt",
    name="ya",
    emulator=YandexGptEmulator,
    key_env="YANDEX_TEST_KEY",
    key="AQVN1yandex-test-key_0123456789abcdefghij",
    fields={"model": "yandexgpt-lite", "folder_id": "b1gtestfolder"},
    chat_path="/foundationModels/v1/completion",
    health=("POST", "/foundationModels/v1/tokenize"),
    stream_error="Internal error",
    unterminated=Unterminated({"final_status": "ALTERNATIVE_STATUS_PARTIAL"}, "unavailable"),
)

# A local Ollama has no key; this one is behind an authenticating proxy, so that the
# contract can check that the key is sent and never shown.
OLLAMA_KEY = "ollama-proxy-key-0123456789abcdefghijklmnop"
OLLAMA = ProviderCase[OllamaEmulator](
    kind="ollama",
    name="local",
    emulator=switched(OllamaEmulator, require_key=OLLAMA_KEY),
    key_env="OLLAMA_TEST_KEY",
    key=OLLAMA_KEY,
    fields={"model": "llama3.2"},
    chat_path="/api/chat",
    health=("GET", "/api/tags"),
    stream_error="an error was encountered while running the model: unexpected EOF",
    unterminated=Unterminated({"send_done": False}, "unavailable"),
    errors=error_table(
        http_error(
            400,
            UNAVAILABLE,
            "not_found",
            1,
            id="400-model-not-pulled",
            error_body={"error": 'model "llama3.2" not found, try pulling it first'},
        ),
        http_error(
            500, UNAVAILABLE, "unavailable", 2, id="500-html", error_body="<html>Bad gateway</html>"
        ),
    ),
    fallback_on=("404", "400-model-not-pulled"),  # a model this server does not have
)

ANTHROPIC_KEY = "sk-ant-api03-test-0123456789abcdefghijklmnopqrstuvwxyz"
ANTHROPIC = ProviderCase[AnthropicEmulator](
    kind="anthropic",
    name="claude",
    emulator=switched(AnthropicEmulator, expected_key=ANTHROPIC_KEY),
    key_env="ANTHROPIC_TEST_KEY",
    key=ANTHROPIC_KEY,
    fields={"model": "claude-sonnet-4-5"},
    chat_path="/v1/messages",
    health=("GET", "/v1/models"),
    frames_before_text=FRAMES_BEFORE_TEXT,  # message_start, content_block_start, ping
    error_before_text_at=1,  # right after message_start: `event: error`
    stream_error="Overloaded",
    unterminated=Unterminated({"send_message_stop": False}, "unavailable"),
    errors=error_table(
        http_error(402, EXHAUSTED, "quota", 1),
        # An empty prepaid balance comes back as a 400, not a 402.
        http_error(400, EXHAUSTED, "quota", 1, id="400-credit-balance", error_body=CREDIT_ERROR),
        http_error(413, INVALID, "invalid_request", 1),
        http_error(529, UNAVAILABLE, "unavailable", 2),  # overloaded
    ),
    fallback_on=("401", "529"),
)

GEMINI_KEY = "AIzaSyTest0123456789abcdefghijklmnopqr"
GEMINI_MODEL = "gemini-2.0-flash"
GEMINI = ProviderCase[GeminiEmulator](
    kind="gemini",
    name="gem",
    emulator=switched(GeminiEmulator, api_key=GEMINI_KEY),
    key_env="GEMINI_TEST_KEY",
    key=GEMINI_KEY,
    fields={"model": GEMINI_MODEL},
    chat_path=f"/v1beta/models/{GEMINI_MODEL}:generateContent",
    stream_path=f"/v1beta/models/{GEMINI_MODEL}:streamGenerateContent",
    health=("GET", "/v1beta/models"),
    stream_error="An internal error has occurred.",
    errors=error_table(
        # Google answers a bad key and an unsupported region with 400s.
        http_error(
            400, UNAVAILABLE, "auth", 1, id="400-api-key-invalid", error_body=API_KEY_INVALID
        ),
        http_error(
            400,
            UNAVAILABLE,
            "permission",
            1,
            id="400-region-unsupported",
            error_body=REGION_UNSUPPORTED,
        ),
    ),
    fallback_on=("400-api-key-invalid",),
)

PROVIDERS: tuple[ProviderCase[Any], ...] = (
    OPENAI,
    AZURE_OPENAI,
    GIGACHAT,
    YANDEXGPT,
    OLLAMA,
    ANTHROPIC,
    GEMINI,
)
