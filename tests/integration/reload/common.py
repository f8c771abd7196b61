"""What the reload tests share: configs as dicts (to send as YAML), an admin stub, a gate."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from orchestrator.v1 import admin_pb2, admin_pb2_grpc
from orchestrator_server.config import Config
from orchestrator_server.providers.base import Provider
from tests.helpers import ADMIN, Running

KEY_ENV = "ORCH_TEST_RELOAD_KEY"


def config_data(*providers: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """A config that serves AdminService with the test token (see tests.helpers.ADMIN)."""
    router = sections.pop("router", {})
    reload = sections.pop("reload", {})
    return {
        "server": {"address": "127.0.0.1:0"},
        "router": {"strategy": "round-robin", **router},
        "providers": list(providers),
        "reload": {**ADMIN, **reload},
        **sections,
    }


def as_config(data: dict[str, Any]) -> Config:
    return Config.model_validate(data)


def openai_entry(name: str, base_url: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "openai",
        "model": "gpt-4o-mini",
        "base_url": f"{base_url}/v1",
        "retries": 0,
        **fields,
    }


def admin(server: Running) -> admin_pb2_grpc.AdminServiceStub:
    """AdminService, with the admin token on every call."""
    return admin_pb2_grpc.AdminServiceStub(server.admin_channel)


async def apply(
    server: Running, data: dict[str, Any], *, preserve_metrics: bool = True
) -> admin_pb2.ReloadResult:
    reply = await admin(server).ApplyConfig(
        admin_pb2.ApplyConfigRequest(
            config_yaml=yaml.safe_dump(data), preserve_metrics=preserve_metrics
        )
    )
    return reply.result


async def reload_file(
    server: Running, path: Path, data: dict[str, Any], *, preserve_metrics: bool = True
) -> admin_pb2.ReloadResult:
    """Writes `data` as the server's configuration file and reloads it (ReloadConfig): the
    way to change what only the file may change (validate_key, telemetry.usage, auth)."""
    await asyncio.to_thread(path.write_text, yaml.safe_dump(data))
    reply = await admin(server).ReloadConfig(
        admin_pb2.ReloadConfigRequest(preserve_metrics=preserve_metrics)
    )
    return reply.result


def session_open(provider: Provider) -> bool:
    """Whether an HTTP adapter still holds its connection pool."""
    session = provider.client._session  # type: ignore[attr-defined]
    return session is not None and not session.closed
