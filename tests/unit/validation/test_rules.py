"""Base URLs, the allow-list, the request rules and the rate limit's bucket."""

from __future__ import annotations

import pytest

from orchestrator_server.config.validate_key import ValidateKeyConfig
from orchestrator_server.domain.errors import FieldViolation
from orchestrator_server.domain.urls import BadUrl, parse_base_url
from orchestrator_server.validation.allowlist import OFFICIAL, AllowList, NotAllowed
from orchestrator_server.validation.ratelimit import TokenBucket
from orchestrator_server.validation.request import violations
from orchestrator_server.validation.types import Credential, KeyCheck
from tests.helpers import http_provider, make_config, mock_provider


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("https://API.OpenAI.com/v1/", "https://api.openai.com/v1"),
        ("https://api.openai.com:443/v1", "https://api.openai.com/v1"),
        ("http://localhost:11434", "http://localhost:11434"),
        (
            "https://ngw.devices.sberbank.ru:9443/api/v2/oauth",
            "https://ngw.devices.sberbank.ru:9443/api/v2/oauth",
        ),
        ("http://[::1]:8080//v1", "http://[::1]:8080/v1"),
    ],
)
def test_canonical_base_urls(text: str, canonical: str) -> None:
    assert str(parse_base_url(text)) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        "api.openai.com/v1",
        "ftp://host/x",
        "https://user:pw@host/x",
        "https://host/x?y=1",
        "https://host/x#y",
        "https://host/a/../b",
        "https://host/a/%2e%2e/b",
        "https://host\\@evil/x",
        "https://host/ x",
        "https://host:99999/x",
        "https://",
        "https://hóst/x",
    ],
)
def test_unusable_base_urls(text: str) -> None:
    with pytest.raises(BadUrl):
        parse_base_url(text)


def test_covers_whole_segments_only() -> None:
    entry = parse_base_url("https://h/v1")
    assert entry.covers(parse_base_url("https://h/v1"))
    assert entry.covers(parse_base_url("https://h/v1/models"))
    assert not entry.covers(parse_base_url("https://h/v1x"))
    assert not entry.covers(parse_base_url("https://h"))
    assert not entry.covers(parse_base_url("http://h/v1"))
    assert not entry.covers(parse_base_url("https://h:8443/v1"))


def test_allow_list_order_configured_then_extra_then_official() -> None:
    config = make_config(
        mock_provider("m"),
        http_provider("openai", "oa", "https://proxy.corp/v1", model="x", api_key_env="K"),
        {
            "name": "giga",
            "kind": "gigachat",
            "model": "GigaChat",
            "api_key_env": "K",
            "auth_url": "https://auth.corp/oauth",
        },
        validate_key={"allowed_base_urls": {"openai": ["https://openrouter.ai/api/v1"]}},
    )
    allow = AllowList.from_config(config.validate_key, config.providers)
    assert [str(e.base) for e in allow.entries("openai")] == [
        "https://proxy.corp/v1",
        "https://openrouter.ai/api/v1",
        OFFICIAL["openai"],
    ]
    assert [str(e.base) for e in allow.entries("gigachat")] == [
        "https://auth.corp/oauth",
        OFFICIAL["gigachat"],
    ]
    assert str(allow.resolve("openai", "")[1]) == "https://proxy.corp/v1"  # the default
    assert str(allow.resolve("anthropic", "")[1]) == OFFICIAL["anthropic"]
    with pytest.raises(NotAllowed):
        allow.resolve("openai", "https://evil.example/v1")


def test_switching_off_official_and_configured_endpoints_leaves_only_the_extra_ones() -> None:
    config = ValidateKeyConfig(
        official_endpoints=False,
        configured_endpoints=False,
        allowed_base_urls={"ollama": ["http://gpu-box:11434"]},
    )
    allow = AllowList.from_config(config, [])
    assert [str(e.base) for e in allow.entries("ollama")] == ["http://gpu-box:11434"]
    assert allow.entries("openai") == []
    with pytest.raises(NotAllowed, match="no endpoint"):
        allow.resolve("openai", "")


def test_config_rejects_an_unusable_allowed_url() -> None:
    with pytest.raises(ValueError, match=r"openai\[1\]"):
        ValidateKeyConfig(allowed_base_urls={"openai": ["https://ok/v1", "https://x/?q=1"]})


def fields(check: KeyCheck) -> list[str]:
    return [v.field for v in violations(check)]


def test_a_good_request_breaks_no_rule() -> None:
    iam = Credential.IAM_TOKEN
    assert violations(KeyCheck("yandexgpt", "t1.token", folder_id="b1g", credential=iam)) == []
    assert violations(KeyCheck("gigachat", "a2V5", scope="GIGACHAT_API_B2B")) == []
    assert violations(KeyCheck("ollama", "")) == []  # Ollama needs no key


def test_rules_never_quote_the_key() -> None:
    key = "sk-secret\nInjected: 1"
    found: list[FieldViolation] = violations(KeyCheck("openai", key))
    assert [v.field for v in found] == ["api_key"]
    assert "secret" not in found[0].description
    assert "secret" not in repr(KeyCheck("openai", key))  # repr leaves the key out


@pytest.mark.parametrize(
    ("check", "named"),
    [
        (KeyCheck("", "k"), ["provider"]),
        (KeyCheck("azure-openai", "k"), ["provider"]),
        (KeyCheck("openai", "k" * 8193), ["api_key"]),
        (KeyCheck("yandexgpt", "k"), ["folder_id"]),
        (KeyCheck("gemini", "k", scope="GIGACHAT_API_PERS", folder_id="f"), ["scope", "folder_id"]),
        (KeyCheck("openai", "k", credential=Credential.UNKNOWN), ["credential_type"]),
    ],
)
def test_broken_rules_name_their_fields(check: KeyCheck, named: list[str]) -> None:
    assert fields(check) == named


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [None, None, None]
    assert bucket.take() == pytest.approx(0.5)  # one token comes every 0.5 s
    clock.now += 0.5
    assert bucket.take() is None
    clock.now += 60  # idle time refills only up to the burst
    assert [bucket.take() for _ in range(4)][-1] == pytest.approx(0.5)
