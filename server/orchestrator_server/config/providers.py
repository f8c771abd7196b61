"""One configuration model per provider kind, told apart by `kind`, and the registry of
kinds (`KINDS`, at the end): everything else that depends on the kind reads it from there.

Keys are never written here: `api_key_env` names the environment variable that holds one.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias, Union

from pydantic import Field, FilePath

from orchestrator_server.config.base import (
    ApiVersion,
    EnvVarName,
    PositiveSeconds,
    PriceConfig,
    ProviderName,
    Strict,
)
from orchestrator_server.config.kind import FOLDER_ID, IAM_TOKEN, SCOPE, Kind
from orchestrator_server.domain.capabilities import ALL, Capabilities


class CapabilitiesConfig(Strict):
    """Overrides of the kind's capability table (docs/tools.md): unset keeps the kind's
    value. An OpenAI-compatible server may lack tools or vision; a model may lack them."""

    tools: bool | None = None
    parallel_tools: bool | None = None
    tool_choice: bool | None = None
    json_object: bool | None = None
    json_schema: bool | None = None
    images: bool | None = None
    image_urls: bool | None = None
    embeddings: bool | None = None

    def overrides(self) -> dict[str, bool]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class ProviderBase(Strict):
    kind: str  # each kind's model narrows it to its own name
    name: ProviderName
    model: str = Field(min_length=1)
    models: list[str] = Field(default_factory=list, description="further models it serves")
    timeout: PositiveSeconds = 30.0
    first_token_timeout: PositiveSeconds | None = None
    retries: int = Field(1, ge=0, le=10)
    weight: float = Field(1.0, ge=0)
    price: PriceConfig | None = Field(
        None, description="none: the built-in table's price for the model, else no price"
    )
    prices: dict[str, PriceConfig] = Field(
        default_factory=dict, description="model -> price, overriding `price` for that model"
    )
    enabled: bool = True
    capabilities: CapabilitiesConfig = Field(
        default_factory=CapabilitiesConfig,
        description="overrides of what the kind supports (tools, images, json_schema, ...)",
    )
    embedding_model: str | None = Field(
        None, min_length=1, description="default model for Embed; none: Embed skips it"
    )
    embedding_models: list[str] = Field(
        default_factory=list, description="further embedding models it serves"
    )


class MockMode(enum.StrEnum):
    NORMAL = "normal"
    TIMEOUT = "timeout"  # never answers; the router's timeout ends the attempt
    UNHEALTHY = "unhealthy"  # fails as an unavailable upstream (5xx)
    RATELIMIT = "ratelimit"  # fails as rate-limited, with retry_after
    AUTH_ERROR = "auth-error"  # fails as a rejected key (401)
    INVALID_REQUEST = "invalid-request"  # rejects every request as invalid (400)
    FAIL_AFTER_N_CHUNKS = "fail-after-n-chunks"  # streams N chunks, then the connection breaks


class MockOptions(Strict):
    mode: MockMode = MockMode.NORMAL
    latency_ms: float = Field(0.0, ge=0, description="delay before the answer or first chunk")
    chunk_delay_ms: float = Field(0.0, ge=0, description="delay between stream chunks")
    words_per_chunk: int = Field(1, ge=1, le=1000)
    reply: str | None = Field(
        None, description="fixed reply text; {prompt} is replaced by the last user message"
    )
    retry_after_s: float = Field(1.0, ge=0, description="Retry-After sent in ratelimit mode")
    fail_after_chunks: int = Field(1, ge=0, description="chunks sent before a stream breaks")
    error_rate: float = Field(0.0, ge=0, le=1, description="share of calls failing as unavailable")
    seed: int | None = Field(None, description="seed for error_rate, for reproducible runs")
    embedding_dimensions: int = Field(
        384, ge=8, le=65_536, description="size of Embed vectors when the request sets none"
    )


class MockProviderConfig(ProviderBase):
    kind: Literal["mock"]
    mock: MockOptions = Field(default_factory=MockOptions)  # type: ignore[arg-type]


class HttpProviderBase(ProviderBase):
    """What every provider reached over HTTP shares."""

    base_url: str | None = Field(None, description="default: the provider's public endpoint")
    api_key_env: EnvVarName | None = Field(
        None, description="name of the environment variable holding the key (never the key)"
    )
    on_missing_key: Literal["fail", "disable"] = Field(
        "fail",
        description="api_key_env names an unset variable: fail (the server does not start, a "
        "reload is rejected) or disable this provider with a warning until a reload finds it",
    )
    verify_ssl: bool = Field(True, description="false only for development; logged loudly")
    ca_bundle: FilePath | None = Field(None, description="extra PEM CA certificates to trust")
    headers: dict[str, str] = Field(default_factory=dict, description="extra, non-secret headers")
    max_connections: int = Field(100, ge=1, description="pooled connections to this provider")
    max_reply_bytes: int = Field(
        8 << 20,
        ge=1024,
        description="largest whole reply read (streams are read frame by frame); larger ones "
        "are refused without being read",
    )

    def key_check_url(self) -> str | None:
        """The endpoint ValidateKey may check keys at for this provider (None: the kind's
        public one)."""
        return self.base_url

    def key_check_version(self) -> str | None:
        """The API version ValidateKey's check speaks for this provider, if it has one."""
        return None


class GigaChatScope(enum.StrEnum):
    PERS = "GIGACHAT_API_PERS"
    B2B = "GIGACHAT_API_B2B"
    CORP = "GIGACHAT_API_CORP"


class GigaChatProviderConfig(HttpProviderBase):
    kind: Literal["gigachat"]
    api_key_env: EnvVarName = Field(description="variable holding the Basic authorization key")
    scope: GigaChatScope = GigaChatScope.PERS
    auth_url: str = "https://ngw.devices.sberbank.ru:9443/api/v2/oauth"
    token_refresh_margin: PositiveSeconds = Field(
        60.0, description="refresh the access token this long before it expires"
    )

    def key_check_url(self) -> str | None:
        return self.auth_url  # a key is checked by asking the OAuth host for a token


class YandexCredential(enum.StrEnum):
    API_KEY = "api-key"  # Authorization: Api-Key <key>
    IAM_TOKEN = "iam-token"  # Authorization: Bearer <IAM token>


class YandexGptProviderConfig(HttpProviderBase):
    kind: Literal["yandexgpt"]
    api_key_env: EnvVarName
    credential: YandexCredential = YandexCredential.API_KEY
    folder_id: str = Field(min_length=1, description="builds gpt://<folder>/<model>/<branch>")
    send_folder_header: bool = Field(
        False, description="send x-folder-id (user IAM tokens; not for service accounts)"
    )
    branch: str = Field("latest", description="model branch: latest, rc or deprecated")


class OllamaProviderConfig(HttpProviderBase):
    kind: Literal["ollama"]
    keep_alive: str | None = Field(None, description='how long Ollama keeps the model, e.g. "5m"')


class OpenAIProviderConfig(HttpProviderBase):
    """OpenAI and every endpoint that speaks its /v1/chat/completions: OpenRouter, vLLM,
    LiteLLM, xAI, Yandex's /v1, Ollama's /v1."""

    kind: Literal["openai"]
    organization: str | None = None
    project: str | None = None
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="OpenAI's o-series need max_completion_tokens"
    )
    include_usage: bool = Field(True, description="ask for usage in streams (stream_options)")


class AzureOpenAIProviderConfig(HttpProviderBase):
    """Azure OpenAI: the OpenAI adapter with the deployment URL shape and an api-key header."""

    kind: Literal["azure-openai"]
    base_url: str = Field(description="https://<resource>.openai.azure.com")
    api_key_env: EnvVarName
    api_version: ApiVersion = Field(description="e.g. 2024-10-21")
    deployment: str | None = Field(None, description="default: the model name")
    include_usage: bool = True


# The API versions the adapters (and key validation) speak unless a provider sets its own.
ANTHROPIC_VERSION = "2023-06-01"
GEMINI_API_VERSION = "v1beta"


class AnthropicProviderConfig(HttpProviderBase):
    kind: Literal["anthropic"]
    api_key_env: EnvVarName
    anthropic_version: ApiVersion = ANTHROPIC_VERSION
    default_max_tokens: int = Field(1024, ge=1, description="Anthropic requires max_tokens")

    def key_check_version(self) -> str | None:
        return self.anthropic_version


class GeminiProviderConfig(HttpProviderBase):
    kind: Literal["gemini"]
    api_key_env: EnvVarName
    api_version: str = GEMINI_API_VERSION

    def key_check_version(self) -> str | None:
        return self.api_version


# The registry: one entry per kind. Code is named as "module:attribute" (adapters under
# orchestrator_server.providers, built as factory(spec, config, api_key); validators under
# orchestrator_server.validation, built as factory()).
KINDS: tuple[Kind, ...] = (
    Kind(
        "mock",
        MockProviderConfig,
        adapter="mock:from_config",
        proto="PROVIDER_KIND_MOCK",
        genai_name="mock",
        validator="mock:MockValidator",
        capabilities=ALL,
    ),
    Kind(
        "gigachat",
        GigaChatProviderConfig,
        adapter="gigachat:GigaChatProvider",
        proto="PROVIDER_KIND_GIGACHAT",
        genai_name="gigachat",
        validator="gigachat:GigaChatValidator",
        key_check_url="https://ngw.devices.sberbank.ru:9443/api/v2/oauth",
        key_fields=frozenset({SCOPE}),
        # One function call per message; forcing one named function (REQUIRED only with a
        # single function); schemas but no documented JSON mode; images uploaded, not fetched
        # by URL.
        capabilities=Capabilities(
            tools=True, tool_choice=True, json_schema=True, images=True, embeddings=True
        ),
    ),
    Kind(
        "yandexgpt",
        YandexGptProviderConfig,
        adapter="yandexgpt:YandexGptProvider",
        proto="PROVIDER_KIND_YANDEXGPT",
        genai_name="yandexgpt",
        validator="yandexgpt:YandexGptValidator",
        key_check_url="https://llm.api.cloud.yandex.net",
        key_fields=frozenset({FOLDER_ID, IAM_TOKEN}),
        # No image input on the completion API (its vision models are batch-only).
        capabilities=Capabilities(
            tools=True,
            parallel_tools=True,
            tool_choice=True,
            json_object=True,
            json_schema=True,
            embeddings=True,
        ),
    ),
    Kind(
        "ollama",
        OllamaProviderConfig,
        adapter="ollama:OllamaProvider",
        proto="PROVIDER_KIND_OLLAMA",
        genai_name="ollama",
        validator="ollama:OllamaValidator",
        key_check_url="http://localhost:11434",
        keyless=True,
        # Native /api/chat: no tool_choice at all; images only as base64 (no URL fetching).
        capabilities=Capabilities(
            tools=True,
            parallel_tools=True,
            json_object=True,
            json_schema=True,
            images=True,
            embeddings=True,
        ),
    ),
    Kind(
        "openai",
        OpenAIProviderConfig,
        adapter="openai:OpenAIProvider",
        proto="PROVIDER_KIND_OPENAI_COMPATIBLE",
        genai_name="openai",
        validator="listing:openai",
        key_check_url="https://api.openai.com/v1",
        capabilities=ALL,
    ),
    Kind(
        "azure-openai",
        AzureOpenAIProviderConfig,
        adapter="openai:OpenAIProvider",
        proto="PROVIDER_KIND_OPENAI_COMPATIBLE",  # ValidateKey's openai-compatible is "openai"
        genai_name="azure.ai.openai",
        capabilities=ALL,
    ),
    Kind(
        "anthropic",
        AnthropicProviderConfig,
        adapter="anthropic:AnthropicProvider",
        proto="PROVIDER_KIND_ANTHROPIC",
        genai_name="anthropic",
        validator="listing:anthropic",
        key_check_url="https://api.anthropic.com",
        # No JSON mode (only schemas) and no embeddings endpoint.
        capabilities=Capabilities(
            tools=True,
            parallel_tools=True,
            tool_choice=True,
            json_schema=True,
            images=True,
            image_urls=True,
        ),
    ),
    Kind(
        "gemini",
        GeminiProviderConfig,
        adapter="gemini:GeminiProvider",
        proto="PROVIDER_KIND_GEMINI",
        genai_name="gcp.gemini",
        validator="listing:gemini",
        key_check_url="https://generativelanguage.googleapis.com",
        # Images inline only: fileData takes Files API URIs, not arbitrary URLs.
        capabilities=Capabilities(
            tools=True,
            parallel_tools=True,
            tool_choice=True,
            json_object=True,
            json_schema=True,
            images=True,
            embeddings=True,
        ),
    ),
)
BY_NAME: dict[str, Kind] = {kind.name: kind for kind in KINDS}
PROVIDER_KINDS: tuple[str, ...] = tuple(BY_NAME)
# Kinds ValidateKey can check, in registry order.
VALIDATABLE_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS if k.validator is not None)

if TYPE_CHECKING:
    # To the type checker any kind's model; to pydantic the union of all, told by `kind`.
    ProviderConfig: TypeAlias = ProviderBase
else:
    ProviderConfig = Annotated[
        Union[tuple(kind.config for kind in KINDS)],  # noqa: UP007 - built from the registry
        Field(discriminator="kind"),
    ]
