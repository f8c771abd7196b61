"""Building the shared state from configuration, and the package's place in the house."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orchestrator_server.config.state import CacheConfig, StateConfig
from orchestrator_server.domain.chat import ChatMessage, ChatRequest, GenerationParams, Role
from orchestrator_server.state import RedisSecretMissing, build_state


async def test_without_redis_everything_stays_in_process() -> None:
    state = build_state(StateConfig(), CacheConfig())
    assert state.backend == "memory"
    assert state.guard is None
    assert not state.cache.enabled
    await state.aclose()


async def test_with_redis_both_share_one_guard() -> None:
    config = StateConfig.model_validate(
        {"redis": {"url": "redis://127.0.0.1:1/0", "password_env": "R_PW", "timeout": 0.3}}
    )
    state = build_state(config, CacheConfig(enabled=True), environ={"R_PW": "secret"})
    assert state.backend == "redis"
    assert state.guard is not None
    assert state.guard.timeout == 0.3
    assert state.limiter.guard is state.guard
    await state.aclose()  # nothing was connected: building never touches the network


def test_a_missing_password_variable_is_named() -> None:
    config = StateConfig.model_validate(
        {"redis": {"url": "redis://redis:6379", "password_env": "R_PW"}}
    )
    with pytest.raises(RedisSecretMissing, match=r"state\.redis\.password_env: .*R_PW"):
        build_state(config, CacheConfig(), environ={})


def test_a_call_reserves_its_prompt_and_its_max_tokens() -> None:
    limiter = build_state(StateConfig(default_max_tokens=500), CacheConfig()).limiter
    prompt = ChatRequest((ChatMessage(Role.USER, "x" * 400),))  # ~100 tokens and 4 of framing
    assert limiter.estimate_tokens(prompt) == 104 + 500
    capped = ChatRequest(prompt.messages, GenerationParams(max_tokens=20))
    assert limiter.estimate_tokens(capped) == 104 + 20


def test_the_state_package_needs_no_grpc() -> None:
    code = (
        "import sys; import orchestrator_server.state; "
        "bad = [m for m in sys.modules if m.startswith(('grpc', 'orchestrator.v1'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
