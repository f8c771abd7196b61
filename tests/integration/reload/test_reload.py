"""Reloads through AdminService and the file: validation first, stats kept or reset, the
providers of a drained generation closed, the file watcher, the admin token."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2

from orchestrator.v1 import admin_pb2, admin_pb2_grpc, generate_pb2, metrics_pb2
from orchestrator_server.app import App
from tests.emulators.gated import Gate, GatedOpenAIEmulator
from tests.helpers import (
    ADMIN,
    ADMIN_TOKEN,
    SendMetadata,
    detail,
    error_reason,
    mock_provider,
    running,
)
from tests.integration.reload.common import (
    KEY_ENV,
    admin,
    apply,
    as_config,
    config_data,
    openai_entry,
    session_open,
)

LIMIT = 10  # seconds: a "does not hang" bound
HI = generate_pb2.GenerateRequest(prompt="hi")


def struct(entry: dict[str, object]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(entry)
    return out


UNSET_KEY_URL = "http://127.0.0.1:9/v1"


async def metrics(server: object) -> dict[str, metrics_pb2.ProviderMetrics]:
    reply = await server.stub.GetMetrics(metrics_pb2.GetMetricsRequest())  # type: ignore[attr-defined]
    return {p.name: p for p in reply.providers}


@pytest.mark.parametrize(
    ("yaml_text", "field", "problem"),
    [
        ("providers: [", "config_yaml", "not valid YAML"),
        ("providers: []", "config_yaml", "providers: List should have at least 1 item"),
        (
            yaml.safe_dump(config_data(mock_provider("a"), aliases={"fast": ["nobody"]})),
            "config_yaml",
            "unknown provider 'nobody'",
        ),
        (
            yaml.safe_dump(
                config_data(
                    {
                        "name": "o",
                        "kind": "openai",
                        "model": "m",
                        "base_url": UNSET_KEY_URL,
                        "api_key_env": "ORCH_TEST_SURELY_UNSET",
                    }
                )
            ),
            "config_yaml",
            "providers[0].api_key_env: environment variable ORCH_TEST_SURELY_UNSET is not set",
        ),
    ],
    ids=["yaml", "schema", "alias", "missing-key"],
)
async def test_invalid_config_is_rejected_and_the_old_one_serves_on(
    yaml_text: str, field: str, problem: str
) -> None:
    # The file allows the unset variable, so the runtime change passes the secrets policy
    # and fails where it should: building the provider.
    allowed = {**ADMIN["admin"], "allowed_key_env": {"ORCH_TEST_SURELY_UNSET": [UNSET_KEY_URL]}}
    data = config_data(mock_provider("a"), reload={"admin": allowed})
    async with running(as_config(data)) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin(server).ApplyConfig(admin_pb2.ApplyConfigRequest(config_yaml=yaml_text))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_reason(caught.value) == "CONFIG_REJECTED"
        assert problem in caught.value.details()
        bad = detail(caught.value, error_details_pb2.BadRequest)
        assert bad.field_violations[0].field == field
        assert server.app.generations.current.number == 1
        assert (await server.stub.Generate(HI)).provider == "a"
        assert server.app.reloader.counts == {"ok": 0, "rejected": 1}


async def test_apply_providers_names_the_bad_entry_and_checks_aliases() -> None:
    data = config_data(mock_provider("a"), mock_provider("b"), aliases={"fast": ["b"]})
    async with running(as_config(data)) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin(server).ApplyProviders(
                admin_pb2.ApplyProvidersRequest(
                    providers=[struct(mock_provider("a")), struct({"name": "c", "kind": "mock"})]
                )
            )
        bad = detail(caught.value, error_details_pb2.BadRequest)
        assert "providers[1].model" in [v.field for v in bad.field_violations]

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin(server).ApplyProviders(
                admin_pb2.ApplyProvidersRequest(providers=[struct(mock_provider("a"))])
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "aliases.fast: unknown provider 'b'" in caught.value.details()

        ok = await admin(server).ApplyProviders(
            admin_pb2.ApplyProvidersRequest(
                providers=[struct(mock_provider("a")), struct(mock_provider("b", "other"))]
            )
        )
        assert (ok.result.unchanged, ok.result.changed) == (["a"], ["b"])
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="x", model="fast"))
        assert (reply.provider, reply.model) == ("b", "other")  # the alias kept, the rest too


async def test_broken_file_is_a_failed_precondition(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    data = config_data(mock_provider("a"))
    path.write_text(yaml.safe_dump(data))
    app = App(as_config(data), config_path=path)
    await app.start()
    try:
        channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{app.port}",
            interceptors=[SendMetadata(("authorization", f"Bearer {ADMIN_TOKEN}"))],
        )
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        path.write_text("providers:\n  - name: a\n    kind: mock\n    modle: x\n")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ReloadConfig(admin_pb2.ReloadConfigRequest())
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        failure = detail(caught.value, error_details_pb2.PreconditionFailure)
        problems = [v.description for v in failure.violations]
        assert "providers[0].modle: Extra inputs are not permitted" in problems
        assert "providers[0].model: Field required" in problems

        data = config_data(mock_provider("a"), mock_provider("b"))
        path.write_text(yaml.safe_dump(data))
        reply = await stub.ReloadConfig(admin_pb2.ReloadConfigRequest())
        assert (reply.result.generation, reply.result.added) == (2, ["b"])
        await channel.close()
    finally:
        await app.stop(grace=0)


@pytest.mark.parametrize("preserve", [True, False])
async def test_preserve_metrics(preserve: bool, caplog: pytest.LogCaptureFixture) -> None:
    before = config_data(
        mock_provider("same"),
        mock_provider("remodelled", "old-model"),
        mock_provider("broken", mode="unhealthy"),
        mock_provider("fixed", mode="unhealthy"),
        router={
            "strategy": "first-available",
            "fallback": False,
            "health": {"consecutive_failures": 1, "min_samples": 1},
        },
    )
    after = config_data(
        mock_provider("same"),
        mock_provider("remodelled", "new-model"),
        mock_provider("broken", mode="unhealthy"),
        mock_provider("fixed"),  # the fix: a changed provider starts with a closed circuit
        router=before["router"],
    )
    async with running(as_config(before)) as server:
        for name in ("same", "remodelled", "broken", "fixed"):
            request = generate_pb2.GenerateRequest(prompt="x", provider=name)
            for _ in range(2):
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await server.stub.Generate(request)
        seen = await metrics(server)
        assert seen["broken"].circuit_state == metrics_pb2.CIRCUIT_STATE_OPEN
        assert seen["fixed"].circuit_state == metrics_pb2.CIRCUIT_STATE_OPEN

        with caplog.at_level(logging.INFO):
            result = await apply(server, after, preserve_metrics=preserve)
        assert result.metrics_preserved is preserve
        assert (result.unchanged, result.changed) == (["same", "broken"], ["remodelled", "fixed"])
        assert "provider remodelled now serves mock new-model (was mock old-model)" in caplog.text
        assert "configuration reloaded from AdminService.ApplyConfig: generation 2" in caplog.text

        now = await metrics(server)
        totals = {name: m.requests_total for name, m in now.items()}
        if preserve:
            assert totals == {name: m.requests_total for name, m in seen.items()}
            assert totals["same"] == 2
            assert now["broken"].circuit_state == metrics_pb2.CIRCUIT_STATE_OPEN
        else:
            assert set(totals.values()) == {0}
            assert now["broken"].circuit_state == metrics_pb2.CIRCUIT_STATE_CLOSED
        assert now["fixed"].circuit_state == metrics_pb2.CIRCUIT_STATE_CLOSED
        fixed = generate_pb2.GenerateRequest(prompt="x", provider="fixed")
        assert (await server.stub.Generate(fixed)).provider == "fixed"


async def test_removed_provider_is_closed_after_its_last_call() -> None:
    unary_gate, stream_gate = Gate(), Gate()
    async with GatedOpenAIEmulator("leaving", unary_gate, stream_gate=stream_gate) as leaving:
        data = config_data(mock_provider("staying"), openai_entry("leaving", leaving.base_url))
        async with running(as_config(data)) as server:
            first = server.app.generations.current
            provider = next(p for p in first.providers if p.spec.name == "leaving")
            pinned = generate_pb2.GenerateRequest(prompt="x", provider="leaving")
            call = asyncio.ensure_future(server.stub.Generate(pinned))
            stream = server.stub.GenerateStream(
                generate_pb2.GenerateStreamRequest(prompt="x", provider="leaving")
            )
            assert (await stream.read()).HasField("start")
            await asyncio.wait_for(unary_gate.until_held(1), LIMIT)
            await asyncio.wait_for(stream_gate.until_held(1), LIMIT)

            result = await admin(server).ApplyProviders(
                admin_pb2.ApplyProvidersRequest(providers=[struct(mock_provider("staying"))])
            )
            assert result.result.removed == ["leaving"]
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await server.stub.Generate(pinned)  # new calls no longer find it
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
            assert session_open(provider)

            unary_gate.open()
            assert (await asyncio.wait_for(call, LIMIT)).provider == "leaving"
            assert session_open(provider)  # the stream still uses it
            assert not first.ended.is_set()

            stream_gate.open()
            events = []
            while (event := await stream.read()) is not grpc.aio.EOF:
                events.append(event)
            assert events[-1].HasField("end")
            await asyncio.wait_for(first.ended.wait(), LIMIT)
            assert not session_open(provider)


async def test_unchanged_provider_keeps_its_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "key-1")
    gate = Gate()
    gate.open()
    async with GatedOpenAIEmulator("kept", gate) as kept:
        data = config_data(openai_entry("kept", kept.base_url, api_key_env=KEY_ENV))
        async with running(as_config(data)) as server:
            provider = server.app.providers[0]
            await server.stub.Generate(HI)
            result = await apply(server, {**data, "router": {"strategy": "random"}})
            assert result.unchanged == ["kept"]
            assert server.app.providers[0] is provider
            assert len(server.app.generations.live) == 1  # the old generation has ended
            assert session_open(provider)
            assert server.app.router.strategy == "random"

            monkeypatch.setenv(KEY_ENV, "key-2")
            result = await apply(server, data)
            assert result.changed == ["kept"]
            assert server.app.providers[0] is not provider
            await server.stub.Generate(HI)
            assert kept.keys_seen() == ["key-1", "key-2"]


async def test_validate_only_changes_nothing() -> None:
    async with running(as_config(config_data(mock_provider("a")))) as server:
        reply = await admin(server).ApplyConfig(
            admin_pb2.ApplyConfigRequest(
                config_yaml=yaml.safe_dump(config_data(mock_provider("b"))), validate_only=True
            )
        )
        assert not reply.result.applied
        assert (reply.result.added, reply.result.removed) == (["b"], ["a"])
        assert reply.result.generation == 1
        assert (await server.stub.Generate(HI)).provider == "a"


async def test_startup_settings_are_reported_not_applied() -> None:
    data = config_data(mock_provider("a"))
    async with running(as_config(data)) as server:
        changed = {**data, "server": {"address": "127.0.0.1:0", "grace_period": 1}}
        result = await apply(server, changed)
    assert result.restart_required == ["server.grace_period"]


async def test_reload_hooks_get_the_new_provider_names() -> None:
    seen: list[tuple[str, ...]] = []
    async with running(as_config(config_data(mock_provider("a")))) as server:
        server.app.reload_hooks.append(lambda names: seen.append(tuple(names)))
        await apply(server, config_data(mock_provider("b"), mock_provider("c")))
    assert seen == [("b", "c")]


async def test_file_watch_reloads_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    data = config_data(mock_provider("a"), reload={"watch": True, "watch_interval": 0.02})
    path.write_text(yaml.safe_dump(data))
    app = App(as_config(data), config_path=path)
    reloaded = asyncio.Event()
    app.reload_hooks.append(lambda names: reloaded.set())
    await app.start()
    try:
        path.write_text(yaml.safe_dump({**data, "providers": [mock_provider("b")]}))
        await asyncio.wait_for(reloaded.wait(), LIMIT)
        assert [p.spec.name for p in app.providers] == ["b"]
    finally:
        await app.stop(grace=0)


@pytest.mark.parametrize(
    "metadata",
    [(), (("authorization", "Bearer wrong"),), (("authorization", f"Basic {ADMIN_TOKEN}"),)],
    ids=["none", "wrong", "not-as-bearer"],
)
async def test_admin_needs_its_token(metadata: tuple[tuple[str, str], ...]) -> None:
    data = config_data(mock_provider("a"))
    async with running(as_config(data)) as server:
        request = admin_pb2.ApplyConfigRequest(config_yaml=yaml.safe_dump(data))
        bare = admin_pb2_grpc.AdminServiceStub(server.channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await bare.ApplyConfig(request, metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert server.app.generations.current.number == 1
        reply = await bare.ApplyConfig(
            request, metadata=[("authorization", f"Bearer {ADMIN_TOKEN}")]
        )
        assert reply.result.generation == 2


async def test_admin_service_is_not_served_without_a_token() -> None:
    data = config_data(mock_provider("a"), reload={"admin": {}})  # enabled, no token
    async with running(as_config(data)) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await apply(server, data)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_admin_service_can_be_left_out() -> None:
    data = config_data(mock_provider("a"), reload={"admin": {"enabled": False}})
    async with running(as_config(data)) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await apply(server, data)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
