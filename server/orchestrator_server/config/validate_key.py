"""The `validate_key:` section: where ValidateKey may send a key, how long it may take, and
the RPC's own rate limit."""

from __future__ import annotations

from pydantic import Field, field_validator

from orchestrator_server.config.base import PositiveSeconds, Strict
from orchestrator_server.config.providers import KINDS
from orchestrator_server.domain.urls import BadUrl, parse_base_url


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
    allowed_base_urls: dict[str, list[str]] = Field(
        default_factory=dict,
        description="further base URLs per kind (one ValidateKey checks over HTTP); a "
        "request may name these or a path below",
    )
    rate_limit: ValidateKeyRateLimit = Field(default_factory=ValidateKeyRateLimit)  # type: ignore[arg-type]

    @field_validator("allowed_base_urls")
    @classmethod
    def _urls_parse(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        # Kinds ValidateKey checks over HTTP: those with a public endpoint in the registry.
        http_kinds = [k.name for k in KINDS if k.validator is not None and k.key_check_url]
        for kind, urls in value.items():
            if kind not in http_kinds:
                raise ValueError(f"{kind}: not a kind ValidateKey checks; one of {http_kinds}")
            for i, url in enumerate(urls):
                try:
                    parse_base_url(url)
                except BadUrl as exc:
                    raise ValueError(f"{kind}[{i}]: {exc}") from None
        return value
