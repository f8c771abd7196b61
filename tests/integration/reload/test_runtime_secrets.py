"""A configuration applied at run time can never send a secret of the server somewhere new.

The exfiltration sequence a new user could run against the old defaults: ApplyProviders with
`{name: x, kind: openai, base_url: <their host>, api_key_env: <any variable>}`, then one
Generate pinned to `x`; their host would receive `Authorization: Bearer <the value>`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from aiohttp import web
from google.protobuf import json_format, struct_pb2
from google.rpc import error_details_pb2

from orchestrator.v1 import admin_pb2, admin_pb2_grpc, generate_pb2
from orchestrator_server.config import Config
from tests.emulators.openai import OpenAIEmulator
from tests.helpers import ADMIN, detail, error_reason, mock_provider, running
from tests.integration.reload.common import KEY_ENV, admin, config_data, openai_entry

SECRET_ENV = "ORCH_TEST_SOME_SECRET"
SECRET = "the-servers-own-secret-value"


class Attacker:
    """The attacker's listener: records whatever reaches it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def _record(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        return web.json_response({"choices": [{"message": {"content": "thanks"}}]})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def attacker(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Attacker]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    found = Attacker()
    await found.start()
    yield found
    await found.stop()


@pytest.fixture
async def upstream(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OpenAIEmulator]:
    monkeypatch.setenv(KEY_ENV, "the-real-provider-key")
    async with OpenAIEmulator() as emulator:
        yield emulator


def struct(entry: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    json_format.ParseDict(entry, message)
    return message


def stolen_entry(attacker: Attacker, env: str = SECRET_ENV, **fields: Any) -> dict[str, Any]:
    return {
        "name": "x",
        "kind": "openai",
        "model": "m",
        "base_url": f"{attacker.url}/v1",
        "api_key_env": env,
        **fields,
    }


async def _pinned_to_x(server: Any) -> grpc.StatusCode:
    try:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi", provider="x"))
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_with_the_shipped_defaults_admin_is_not_even_served(attacker: Attacker) -> None:
    data = config_data(mock_provider("a"), reload={"admin": {}})  # no token: the default
    async with running(Config.model_validate(data)) as server:
        stub = admin_pb2_grpc.AdminServiceStub(server.channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ApplyProviders(
                admin_pb2.ApplyProvidersRequest(providers=[struct(stolen_entry(attacker))])
            )
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert await _pinned_to_x(server) == grpc.StatusCode.NOT_FOUND
    assert attacker.requests == []


async def test_the_exfiltration_sequence_is_refused_naming_the_field(attacker: Attacker) -> None:
    """Even a caller holding the admin token cannot send a variable the file does not use."""
    async with running(Config.model_validate(config_data(mock_provider("a")))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin(server).ApplyProviders(
                admin_pb2.ApplyProvidersRequest(providers=[struct(stolen_entry(attacker))])
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_reason(caught.value) == "CONFIG_NOT_PERMITTED"
        bad = detail(caught.value, error_details_pb2.BadRequest)
        assert [v.field for v in bad.field_violations] == ["providers[0].api_key_env"]
        assert SECRET not in caught.value.details()
        assert await _pinned_to_x(server) == grpc.StatusCode.NOT_FOUND
        assert server.app.generations.current.number == 1
    assert attacker.requests == []


async def test_a_key_of_the_file_may_not_move_to_a_new_base_url(
    attacker: Attacker, upstream: OpenAIEmulator
) -> None:
    data = config_data(openai_entry("real", upstream.base_url, api_key_env=KEY_ENV))
    async with running(Config.model_validate(data)) as server:
        entry = stolen_entry(attacker, KEY_ENV)
        for call in (
            admin(server).ApplyProviders(
                admin_pb2.ApplyProvidersRequest(providers=[struct(entry)])
            ),
            admin(server).ApplyConfig(
                admin_pb2.ApplyConfigRequest(
                    config_yaml=yaml.safe_dump({**data, "providers": [entry]})
                )
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "providers[0].base_url: may not send" in caught.value.details()
        assert await _pinned_to_x(server) == grpc.StatusCode.NOT_FOUND
    assert attacker.requests == []


@pytest.mark.parametrize(
    ("change", "field"),
    [({"verify_ssl": False}, "verify_ssl"), ({"ca_bundle": __file__}, "ca_bundle")],
    ids=["verify_ssl", "ca_bundle"],
)
async def test_tls_may_not_be_weakened_where_a_key_travels(
    upstream: OpenAIEmulator, change: dict[str, Any], field: str
) -> None:
    data = config_data(openai_entry("real", upstream.base_url, api_key_env=KEY_ENV))
    async with running(Config.model_validate(data)) as server:
        entry = openai_entry("real", upstream.base_url, api_key_env=KEY_ENV, **change)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin(server).ApplyProviders(
                admin_pb2.ApplyProvidersRequest(providers=[struct(entry)])
            )
    bad = detail(caught.value, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == [f"providers[0].{field}"]


async def test_where_the_file_sends_a_key_runtime_changes_may_too(
    upstream: OpenAIEmulator,
) -> None:
    data = config_data(openai_entry("real", upstream.base_url, api_key_env=KEY_ENV))
    async with running(Config.model_validate(data)) as server:
        moved = openai_entry("renamed", upstream.base_url, api_key_env=KEY_ENV, model="gpt-4o")
        reply = await admin(server).ApplyProviders(
            admin_pb2.ApplyProvidersRequest(providers=[struct(moved)])
        )
        assert reply.result.added == ["renamed"]
        assert not reply.result.persistent
        answer = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        assert answer.provider == "renamed"
    assert upstream.requests[-1].headers["authorization"] == "Bearer the-real-provider-key"


async def test_the_file_may_allow_further_variables_to_listed_urls(
    attacker: Attacker, upstream: OpenAIEmulator
) -> None:
    allowed = {**ADMIN["admin"], "allowed_key_env": {SECRET_ENV: [f"{upstream.base_url}/v1"]}}
    data = config_data(mock_provider("a"), reload={"admin": allowed})
    async with running(Config.model_validate(data)) as server:
        good = openai_entry("extra", upstream.base_url, api_key_env=SECRET_ENV)
        reply = await admin(server).ApplyProviders(
            admin_pb2.ApplyProvidersRequest(providers=[struct(good)])
        )
        assert reply.result.added == ["extra"]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin(server).ApplyProviders(
                admin_pb2.ApplyProvidersRequest(providers=[struct(stolen_entry(attacker))])
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert attacker.requests == []


@pytest.mark.parametrize(
    "section",
    [
        {
            "telemetry": {
                "usage": {
                    "webhook": {
                        "url": "http://127.0.0.1:9/",
                        "headers_env": {"Authorization": SECRET_ENV},
                    }
                }
            }
        },
        {"validate_key": {"allowed_base_urls": {"openai": ["http://127.0.0.1:9/v1"]}}},
    ],
    ids=["webhook", "validate_key"],
)
async def test_secret_routing_sections_change_only_through_the_file(
    attacker: Attacker, section: dict[str, Any]
) -> None:
    data = config_data(mock_provider("a"))
    async with running(Config.model_validate(data)) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin(server).ApplyConfig(
                admin_pb2.ApplyConfigRequest(config_yaml=yaml.safe_dump({**data, **section}))
            )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "changes only through the configuration file" in caught.value.details()


async def test_a_runtime_change_lasts_until_the_next_reload_from_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.yaml"
    data = config_data(mock_provider("a"))
    path.write_text(yaml.safe_dump(data))
    async with running(Config.model_validate(data), config_path=path) as server:
        applied = await admin(server).ApplyProviders(
            admin_pb2.ApplyProvidersRequest(providers=[struct(mock_provider("b"))])
        )
        assert (applied.result.added, applied.result.persistent) == (["b"], False)
        reloaded = await admin(server).ReloadConfig(admin_pb2.ReloadConfigRequest())
        assert (reloaded.result.added, reloaded.result.persistent) == (["a"], True)
    assert "AdminService.ApplyProviders is not written to the configuration file" in caplog.text
    assert "replaced the change made by AdminService.ApplyProviders" in caplog.text
