"""Shared test helpers: configs from dicts, a running server on port 0, status details."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from orchestrator.v1 import common_pb2, orchestrator_service_pb2_grpc
from orchestrator_server.app import App
from orchestrator_server.config import Config, default_config
from orchestrator_server.providers.mock import MockProvider

# AdminService is served only with a token: tests that use it configure this one
# (`reload=ADMIN`) and call it through `Running.admin_channel`, which sends it.
ADMIN_TOKEN_ENV = "ORCH_TEST_ADMIN_TOKEN"
ADMIN_TOKEN = "test-admin-token-0123456789"
os.environ.setdefault(ADMIN_TOKEN_ENV, ADMIN_TOKEN)
ADMIN: dict[str, Any] = {"admin": {"token_env": ADMIN_TOKEN_ENV}}


def caller_key(
    key_id: str, key: str, models: tuple[str, ...] = ("*",), *, tenant: str = "team", **fields: Any
) -> dict[str, Any]:
    """An `auth.keys` entry admitting `key` (by its SHA-256, as `orchestrator keys new` makes)."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return {"id": key_id, "tenant": tenant, "key_sha256": digest, "models": list(models), **fields}


def bearer(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


def mock_provider(name: str, model: str = "mock-model", **mock: Any) -> dict[str, Any]:
    return {"name": name, "kind": "mock", "model": model, "mock": mock}


def make_config(*providers: dict[str, Any], **sections: Any) -> Config:
    data: dict[str, Any] = {"server": {"address": "127.0.0.1:0"}, "providers": list(providers)}
    router = sections.pop("router", {})
    data["router"] = {"strategy": "first-available", **router}
    data.update(sections)
    return Config.model_validate(data)


class SendMetadata(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds fixed metadata (a key, a token) to every unary call of a channel."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self._pairs = pairs

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        metadata = [*(details.metadata or ()), *self._pairs]
        return await continuation(
            grpc.aio.ClientCallDetails(
                details.method,
                details.timeout,
                grpc.aio.Metadata(*metadata),
                details.credentials,
                details.wait_for_ready,
            ),
            request,
        )


def embedded_config() -> Config:
    """The embedded default config (`make run`'s) with its gRPC and metrics ports moved to 0,
    so tests pass while `make run` holds 50051 and 9464."""
    config = default_config()
    telemetry = config.telemetry
    metrics = telemetry.metrics.model_copy(update={"address": "127.0.0.1:0"})
    return config.model_copy(
        update={
            "server": config.server.model_copy(update={"address": "127.0.0.1:0"}),
            "telemetry": telemetry.model_copy(update={"metrics": metrics}),
        }
    )


def demo_collection() -> dict[str, Any]:
    """The embedded config's demo collection entry (builtin:docs with its embedder)."""
    (docs,) = default_config().retrieval.collections
    return docs.model_dump(mode="json")


@dataclass
class Running:
    app: App
    channel: grpc.aio.Channel
    stub: orchestrator_service_pb2_grpc.OrchestratorServiceStub
    _extra: list[grpc.aio.Channel] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.app.port}"

    @property
    def admin_channel(self) -> grpc.aio.Channel:
        """A channel whose calls carry the test admin token."""
        channel = grpc.aio.insecure_channel(
            self.target, interceptors=[SendMetadata(("authorization", f"Bearer {ADMIN_TOKEN}"))]
        )
        self._extra.append(channel)
        return channel

    def mock(self, name: str) -> MockProvider:
        provider = next(p for p in self.app.providers if p.spec.name == name)
        assert isinstance(provider, MockProvider)
        return provider


@asynccontextmanager
async def running(config: Config, **app_options: Any) -> AsyncIterator[Running]:
    """`app_options` go to App (telemetry=..., metrics_address=...)."""
    app = App(config, **app_options)
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.port}")
    server = Running(app, channel, orchestrator_service_pb2_grpc.OrchestratorServiceStub(channel))
    try:
        yield server
    finally:
        await channel.close()
        for extra in server._extra:
            await extra.close()
        await app.stop(grace=0)


def status_details(error: grpc.aio.AioRpcError) -> list[any_pb2.Any]:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            assert isinstance(value, bytes)
            return list(status_pb2.Status.FromString(value).details)
    return []


def detail(error: grpc.aio.AioRpcError, kind: type[Any]) -> Any:
    for packed in status_details(error):
        if packed.Is(kind.DESCRIPTOR):
            out = kind()
            packed.Unpack(out)
            return out
    return None


def error_reason(error: grpc.aio.AioRpcError) -> str:
    info = detail(error, error_details_pb2.ErrorInfo)
    return "" if info is None else str(info.reason)


def trail(error: grpc.aio.AioRpcError) -> common_pb2.AttemptTrail | None:
    result: common_pb2.AttemptTrail | None = detail(error, common_pb2.AttemptTrail)
    return result


def require_tool(name: str) -> str:
    """A real external client for e2e tests: skipped locally when missing, a failure in CI."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found:
        return found
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{name} is required in CI but was not found")
    pytest.skip(f"{name} not installed")


def http_provider(kind: str, name: str, base_url: str, **fields: Any) -> dict[str, Any]:
    """A provider entry pointing at an emulator; `fields` add kind-specific keys."""
    return {"name": name, "kind": kind, "base_url": base_url, "retries": 0, **fields}


def stream_text(events: list[Any]) -> str:
    return "".join(e.delta.text for e in events if e.HasField("delta"))
