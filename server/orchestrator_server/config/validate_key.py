"""The `validate_key:` section: where ValidateKey may send a key, how long it may take, and
the RPC's own rate limit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from orchestrator_server.config.base import PositiveSeconds, Strict
from orchestrator_server.validation.urls import BadUrl, parse_base_url

# Kinds ValidateKey can check over HTTP (mock needs no URL).
ValidatableKind = Literal["gigachat", "yandexgpt", "ollama", "openai", "anthropic", "gemini"]


class ValidateKeyRateLimit(Strict):
    """A token bucket shared by all callers of this server process."""

    rate: float = Field(2.0, gt=0, description="validations per second, sustained")
    burst: int = Field(10, ge=1, description="validations allowed back to back")


class ValidateKeyConfig(Strict):
    timeout: PositiveSeconds = Field(
        10.0, description="budget for one validation, all its calls (GigaChat tries up to 3)"
    )
    official_endpoints: bool = Field(
        True, description="allow each kind's public endpoint (api.openai.com, ...)"
    )
    configured_endpoints: bool = Field(
        True, description="allow the base_url (GigaChat: auth_url) of every configured provider"
    )
    allowed_base_urls: dict[ValidatableKind, list[str]] = Field(
        default_factory=dict,
        description="further base URLs per kind; a request may name these or a path below",
    )
    rate_limit: ValidateKeyRateLimit = Field(default_factory=ValidateKeyRateLimit)  # type: ignore[arg-type]

    @field_validator("allowed_base_urls")
    @classmethod
    def _urls_parse(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for kind, urls in value.items():
            for i, url in enumerate(urls):
                try:
                    parse_base_url(url)
                except BadUrl as exc:
                    raise ValueError(f"{kind}[{i}]: {exc}") from None
        return value
