"""What a reload does with every setting, and with the resources the old settings held: each
setting is applied live or reported in restart_required; TLS contexts are built once per
(verification, CA bundle) and never on the event loop while it serves; ValidateKey's clients
are reused across reloads and closed once a reload drops their endpoint.

Settings change through the configuration file (ReloadConfig): validate_key and the usage
webhook change only that way (AdminService.ApplyConfig refuses them, see
test_runtime_secrets.py)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme

from orchestrator.v1 import common_pb2, validate_key_pb2
from tests.emulators.openai import OpenAIEmulator
from tests.helpers import Running, error_reason, mock_provider, running
from tests.integration.reload.common import (
    apply,
    as_config,
    config_data,
    openai_entry,
    reload_file,
)


@pytest.fixture
async def emulator() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator() as em:
        yield em


# --- every setting applied live or reported -------------------------------------------------


def _tracing(data: dict[str, Any]) -> None:
    data["telemetry"] = {"tracing": {"exporter": "console"}}


def _metrics(data: dict[str, Any]) -> None:
    data["telemetry"] = {"metrics": {"address": "127.0.0.1:0"}}


def _usage(data: dict[str, Any]) -> None:
    data["telemetry"] = {"usage": {"webhook": {"url": "http://127.0.0.1:9/events"}}}


def _prompts(data: dict[str, Any]) -> None:
    data["logging"] = {"include_prompts": True}


def _rate_limit(data: dict[str, Any]) -> None:
    data["validate_key"] = {"rate_limit": {"rate": 50, "burst": 3}}


def _strategy(data: dict[str, Any]) -> None:
    data["router"]["strategy"] = "cheapest"


def _listing(data: dict[str, Any]) -> None:
    data["listing"] = {"ttl": 5}


@pytest.mark.parametrize(
    ("change", "restart_required"),
    [
        pytest.param(_tracing, ["telemetry.tracing"], id="tracing"),
        pytest.param(_metrics, ["telemetry.metrics"], id="metrics-endpoint"),
        pytest.param(_usage, ["telemetry.usage"], id="usage-webhook"),
        pytest.param(_prompts, ["logging.include_prompts"], id="logging"),
        pytest.param(_rate_limit, [], id="validate-key-rate-limit-is-live"),
        pytest.param(_strategy, [], id="router-is-live"),
        pytest.param(_listing, [], id="listing-is-live"),
    ],
)
async def test_every_setting_is_applied_or_reported(
    change: Callable[[dict[str, Any]], None], restart_required: list[str], tmp_path: Path
) -> None:
    data = config_data(mock_provider("a"))
    path = tmp_path / "config.yaml"
    async with running(as_config(data), config_path=path) as server:
        changed = {**data, "router": dict(data["router"])}
        change(changed)
        result = await reload_file(server, path, changed)
    assert result.applied
    assert list(result.restart_required) == restart_required


async def validate(server: Running, key: str = "demo-key", base_url: str = "") -> Any:
    kind = common_pb2.PROVIDER_KIND_OPENAI_COMPATIBLE if base_url else common_pb2.PROVIDER_KIND_MOCK
    return await server.stub.ValidateKey(
        validate_key_pb2.ValidateKeyRequest(provider=kind, api_key=key, base_url=base_url)
    )


async def test_a_new_validate_key_rate_limit_applies_at_once(tmp_path: Path) -> None:
    data = config_data(mock_provider("a"), validate_key={"rate_limit": {"rate": 0.001, "burst": 1}})
    path = tmp_path / "config.yaml"
    async with running(as_config(data), config_path=path) as server:
        await validate(server)  # the bucket's one token
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await validate(server)
        assert error_reason(caught.value) == "GATEWAY_RATE_LIMITED"
        faster = {**data, "validate_key": {"rate_limit": {"rate": 1_000_000, "burst": 5}}}
        result = await reload_file(server, path, faster)
        assert list(result.restart_required) == []
        reply = await validate(server)  # refilled at the new rate, not the old one
    assert reply.valid


# --- TLS contexts: cached, and built off the loop --------------------------------------------


@pytest.fixture
def context_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The threads ssl.create_default_context runs on, from now on."""
    threads: list[str] = []
    real = ssl.create_default_context

    def spy(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", spy)
    return threads


async def test_a_reload_builds_tls_contexts_once_and_off_the_loop(
    emulator: OpenAIEmulator, tmp_path: Path, context_builds: list[str]
) -> None:
    bundle = tmp_path / "extra-ca.pem"  # a bundle no context was built from yet
    trustme.CA().cert_pem.write_to_path(str(bundle))
    data = config_data(mock_provider("a"))
    async with running(as_config(data)) as server:
        loop_thread = threading.current_thread().name
        ten = [openai_entry(f"p{i}", emulator.base_url, ca_bundle=str(bundle)) for i in range(10)]
        result = await apply(server, config_data(mock_provider("a"), *ten))
        assert len(result.added) == 10
    assert len(context_builds) == 1  # one per (verification, CA bundle), not one per provider
    assert loop_thread not in context_builds


async def test_validate_key_builds_a_new_endpoints_context_off_the_loop(
    emulator: OpenAIEmulator, tmp_path: Path, context_builds: list[str]
) -> None:
    bundle = tmp_path / "validate-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    entry = openai_entry("oai", emulator.base_url, ca_bundle=str(bundle))
    path = tmp_path / "config.yaml"
    async with running(as_config(config_data(mock_provider("a"))), config_path=path) as server:
        loop_thread = threading.current_thread().name
        await reload_file(server, path, config_data(mock_provider("a"), entry))
        context_builds.clear()
        await validate(server, "sk-test", f"{emulator.base_url}/v1")
    assert loop_thread not in context_builds


# --- ValidateKey's clients across reloads -----------------------------------------------------


async def test_validate_key_reuses_its_client_across_reloads_and_closes_dropped_ones(
    emulator: OpenAIEmulator, tmp_path: Path
) -> None:
    url = f"{emulator.base_url}/v1"
    with_endpoint = config_data(
        mock_provider("a"), validate_key={"allowed_base_urls": {"openai": [url]}}
    )
    path = tmp_path / "config.yaml"
    async with running(as_config(with_endpoint), config_path=path) as server:
        for _ in range(5):
            await reload_file(server, path, with_endpoint)
            assert (await validate(server, "sk-test", url)).valid
        # One client, one kept-alive connection, however many reloads went by.
        assert emulator.open_connections == 1
        await reload_file(server, path, config_data(mock_provider("a")))
        pool = server.app.key_validation.clients
        assert pool.open_clients == 0
