"""Caller keys through a real server: every OrchestratorService RPC needs one, health and
reflection stay open, a key reaches only its models, the key's id and tenant are what usage
events, logs and metrics carry, refusals are counted, and a reload rotates keys."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from orchestrator.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    generate_pb2,
    listing_pb2,
    metrics_pb2,
    orchestrator_service_pb2,
)
from orchestrator_server.app import App, StartupError, security_summary
from orchestrator_server.config import Config
from orchestrator_server.telemetry.setup import Telemetry
from orchestrator_server.telemetry.usage import UsageEvent
from tests.helpers import (
    ADMIN,
    bearer,
    caller_key,
    error_reason,
    make_config,
    mock_provider,
    running,
)
from tests.integration.telemetry.test_metrics import METRICS, scrape, value

KEY = "orch_full-access-key-0123456789"
LIMITED = "orch_limited-access-key-0123456789"
PROVIDERS = (mock_provider("a", "m-a", reply="from a"), mock_provider("b", "m-b", reply="from b"))
ALIASES = {"both": ["a", "b"], "only-a": ["a/m-a"]}
AUTH = {
    "keys": [
        caller_key("full", KEY, tenant="acme"),
        caller_key("limited", LIMITED, ("a/*",), tenant="beta"),
    ]
}
SERVICE = orchestrator_service_pb2.DESCRIPTOR.services_by_name["OrchestratorService"]


def config(**sections: Any) -> Config:
    return make_config(*PROVIDERS, aliases=ALIASES, auth=AUTH, **sections)


def generate(**fields: Any) -> generate_pb2.GenerateRequest:
    return generate_pb2.GenerateRequest(prompt="hello", **fields)


async def call_method(channel: grpc.aio.Channel, name: str, metadata: Any) -> grpc.StatusCode:
    """Any OrchestratorService method, with an empty request: its status code."""
    method = SERVICE.methods_by_name[name]
    request_type = method.input_type._concrete_class
    response_type = method.output_type._concrete_class
    path = f"/{SERVICE.full_name}/{name}"
    try:
        if method.server_streaming:
            stream = channel.unary_stream(
                path,
                request_serializer=request_type.SerializeToString,
                response_deserializer=response_type.FromString,
            )(request_type(), metadata=metadata, timeout=5)
            async for _ in stream:
                pass
        else:
            await channel.unary_unary(
                path,
                request_serializer=request_type.SerializeToString,
                response_deserializer=response_type.FromString,
            )(request_type(), metadata=metadata, timeout=5)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("method", list(SERVICE.methods_by_name))
async def test_every_method_needs_a_valid_key(method: str) -> None:
    async with running(config()) as server:
        assert await call_method(server.channel, method, ()) == grpc.StatusCode.UNAUTHENTICATED
        wrong = bearer("orch_not-a-key-of-this-gateway")
        assert await call_method(server.channel, method, wrong) == grpc.StatusCode.UNAUTHENTICATED
        # With the key, whatever the empty request earns, it is not a refusal of the caller.
        status = await call_method(server.channel, method, bearer(KEY))
        assert status not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


@pytest.mark.parametrize(
    "metadata",
    [bearer(KEY), (("authorization", f"bearer {KEY}"),), (("x-api-key", KEY),)],
    ids=["Bearer", "bearer", "x-api-key"],
)
async def test_the_key_travels_as_bearer_or_x_api_key(metadata: Any) -> None:
    async with running(config()) as server:
        reply = await server.stub.Generate(generate(), metadata=metadata)
    assert reply.text


async def test_health_and_reflection_stay_open() -> None:
    async with running(config()) as server:
        health = health_pb2_grpc.HealthStub(server.channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE.full_name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(server.channel)
        answers = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = [s.name async for a in answers for s in a.list_services_response.service]
    assert SERVICE.full_name in names


@pytest.mark.parametrize(
    ("expires_at", "code"),
    [
        ("2020-01-01T00:00:00Z", grpc.StatusCode.UNAUTHENTICATED),
        ("2999-01-01", grpc.StatusCode.OK),
    ],
    ids=["past", "future"],
)
async def test_a_key_stops_working_when_it_expires(expires_at: str, code: grpc.StatusCode) -> None:
    auth = {"keys": [caller_key("k", KEY, expires_at=expires_at)]}
    async with running(make_config(*PROVIDERS, auth=auth)) as server:
        status = await call_method(server.channel, "ListProviders", bearer(KEY))
    assert status == code


async def test_a_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_TEST_CALLER_KEY", KEY)
    auth = {
        "keys": [{"id": "env", "tenant": "t", "key_env": "ORCH_TEST_CALLER_KEY", "models": ["*"]}]
    }
    async with running(make_config(*PROVIDERS, auth=auth)) as server:
        assert (await server.stub.Generate(generate(), metadata=bearer(KEY))).text


@pytest.mark.parametrize(
    ("value", "problem"),
    [(None, "is not set"), ("replace-me", "fewer than 20")],
    ids=["unset", "placeholder"],
)
async def test_an_unusable_key_variable_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, value: str | None, problem: str
) -> None:
    if value is None:
        monkeypatch.delenv("ORCH_TEST_CALLER_KEY", raising=False)
    else:
        monkeypatch.setenv("ORCH_TEST_CALLER_KEY", value)
    auth = {
        "keys": [{"id": "env", "tenant": "t", "key_env": "ORCH_TEST_CALLER_KEY", "models": ["*"]}]
    }
    with pytest.raises(StartupError, match=rf"auth\.keys\[0\]\.key_env: .*{problem}"):
        App(make_config(*PROVIDERS, auth=auth))


# --- what a key may use ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_fields", "served_by"),
    [
        ({"model": "a/m-a"}, "a"),
        ({"model": "a/anything"}, "a"),  # "a/*"
        ({"provider": "a"}, "a"),
        ({"model": "m-a"}, "a"),  # a bare model name that only `a` serves
        ({"model": "only-a"}, "a"),  # an alias whose every target the key may use
    ],
    ids=["provider/model", "wildcard", "pinned", "bare-model", "alias-by-targets"],
)
async def test_a_limited_key_reaches_its_models(
    request_fields: dict[str, str], served_by: str
) -> None:
    async with running(config()) as server:
        reply = await server.stub.Generate(generate(**request_fields), metadata=bearer(LIMITED))
    assert reply.provider == served_by


@pytest.mark.parametrize(
    ("request_fields", "reason"),
    [
        ({"model": "b/m-b"}, "PROVIDER_NOT_ALLOWED"),
        ({"provider": "b"}, "PROVIDER_NOT_ALLOWED"),
        ({"model": "m-b"}, "PROVIDER_NOT_ALLOWED"),
        ({"model": "both"}, "ALIAS_NOT_ALLOWED"),
        ({}, "MODEL_NOT_ALLOWED"),  # every provider's default: b's too
    ],
    ids=["provider/model", "pinned", "bare-model", "alias", "no-model"],
)
async def test_a_limited_key_is_refused_everything_else(
    request_fields: dict[str, str], reason: str
) -> None:
    async with running(config()) as server:
        for call in (server.stub.Generate, _drain_stream(server)):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(generate(**request_fields), metadata=bearer(LIMITED))
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert error_reason(caught.value) == reason
        assert server.mock("b").calls == 0


def _drain_stream(server: Any) -> Any:
    async def call(request: generate_pb2.GenerateRequest, metadata: Any) -> None:
        stream_request = generate_pb2.GenerateStreamRequest.FromString(
            request.SerializeToString()  # the same fields
        )
        async for _ in server.stub.GenerateStream(stream_request, metadata=metadata):
            pass

    return call


async def test_an_unknown_model_lists_what_exists_only_to_a_key_that_may_use_everything() -> None:
    async with running(config()) as server:
        with pytest.raises(grpc.aio.AioRpcError) as full:
            await server.stub.Generate(generate(model="nope"), metadata=bearer(KEY))
        with pytest.raises(grpc.aio.AioRpcError) as limited:
            await server.stub.Generate(generate(model="nope"), metadata=bearer(LIMITED))
    assert full.value.code() == limited.value.code() == grpc.StatusCode.NOT_FOUND
    assert "models: a/m-a, b/m-b; aliases: both, only-a" in (full.value.details() or "")
    # Provider b is none of the limited key's business (ListModels does not show it either).
    # Where to list models is said to both: ListModels shows each key its own share.
    assert limited.value.details() == (
        "no provider serves model or alias 'nope'; "
        "ListModels (`orchestrator models`) lists the models each provider serves"
    )


async def test_an_alias_named_by_the_key_is_allowed_whatever_its_targets() -> None:
    auth = {"keys": [caller_key("aliased", LIMITED, ("both",))]}
    async with running(make_config(*PROVIDERS, aliases=ALIASES, auth=auth)) as server:
        reply = await server.stub.Generate(generate(model="both"), metadata=bearer(LIMITED))
        assert reply.provider in ("a", "b")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate(model="b/m-b"), metadata=bearer(LIMITED))
    assert error_reason(caught.value) == "PROVIDER_NOT_ALLOWED"


async def test_listings_and_metrics_show_only_what_the_key_may_use() -> None:
    async with running(config()) as server:
        stub = server.stub
        providers = await stub.ListProviders(
            listing_pb2.ListProvidersRequest(), metadata=bearer(LIMITED)
        )
        assert [p.name for p in providers.providers] == ["a"]
        models = await stub.ListModels(listing_pb2.ListModelsRequest(), metadata=bearer(LIMITED))
        assert {m.provider for m in models.models} == {"a"}
        assert [a.name for a in models.aliases] == ["only-a"]
        metrics = await stub.GetMetrics(metrics_pb2.GetMetricsRequest(), metadata=bearer(LIMITED))
        assert [p.name for p in metrics.providers] == ["a"]
        for call, request in (
            (stub.GetMetrics, metrics_pb2.GetMetricsRequest(providers=["b"])),
            (stub.ListModels, listing_pb2.ListModelsRequest(providers=["b"])),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(request, metadata=bearer(LIMITED))
            assert error_reason(caught.value) == "PROVIDER_NOT_ALLOWED"
        full = await stub.ListProviders(listing_pb2.ListProvidersRequest(), metadata=bearer(KEY))
        assert [p.name for p in full.providers] == ["a", "b"]


# --- who the usage belongs to -------------------------------------------------------------


class Collected:
    def __init__(self) -> None:
        self.events: list[UsageEvent] = []
        self.arrived = asyncio.Event()

    def __call__(self, event: UsageEvent) -> None:
        self.events.append(event)
        self.arrived.set()


async def test_the_keys_id_and_tenant_are_what_usage_logs_and_metrics_carry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = config(telemetry=METRICS)
    hook = Collected()
    caplog.set_level(logging.DEBUG, logger="orchestrator.attempts")
    async with running(cfg, telemetry=Telemetry(cfg, usage_hooks=[hook])) as server:
        spoofed = generate_pb2.RequestMetadata(tenant="someone-else", user="u-7", tags=["x"])
        await server.stub.Generate(
            generate(model="a/m-a", metadata=spoofed),
            metadata=(*bearer(LIMITED), ("x-api-key-id", "spoofed-id")),
        )
        await hook.arrived.wait()
        _, samples = await scrape(server.app.telemetry.metrics_port)
    [event] = hook.events
    assert (event.key_id, event.tenant, event.authenticated) == ("limited", "beta", True)
    assert (event.user, event.tags) == ("u-7", ("x",))  # detail the caller may add
    [record] = [r for r in caplog.records if r.name == "orchestrator.attempts"]
    assert (record.key_id, record.tenant) == ("limited", "beta")  # type: ignore[attr-defined]
    labels = {"key_id": "limited", "tenant": "beta", "status": "success"}
    assert value(samples, "orchestrator_caller_requests_total", **labels) == 1
    assert "spoofed-id" not in str(samples)
    assert "someone-else" not in str(samples)


async def test_refusals_are_counted_by_reason() -> None:
    async with running(config(telemetry=METRICS)) as server:
        for metadata in ((), bearer("orch_wrong-key-0123456789012")):
            with pytest.raises(grpc.aio.AioRpcError):
                await server.stub.Generate(generate(), metadata=metadata)
        with pytest.raises(grpc.aio.AioRpcError):
            await server.stub.Generate(generate(model="b/m-b"), metadata=bearer(LIMITED))
        _, samples = await scrape(server.app.telemetry.metrics_port)
    for reason in ("api_key_missing", "api_key_invalid", "provider_not_allowed"):
        assert value(samples, "orchestrator_auth_failures_total", reason=reason) == 1


# --- reloads ---------------------------------------------------------------------------


async def test_a_file_reload_rotates_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    old = {"keys": [caller_key("k", KEY)]}
    new = {"keys": [caller_key("k", LIMITED, expires_at="2999-01-01T00:00:00Z")]}
    data = {
        "server": {"address": "127.0.0.1:0"},
        "providers": [PROVIDERS[0]],
        "reload": ADMIN,
        "auth": old,
    }
    path.write_text(yaml.safe_dump(data))
    async with running(Config.model_validate(data), config_path=path) as server:
        assert (await server.stub.Generate(generate(), metadata=bearer(KEY))).text
        path.write_text(yaml.safe_dump({**data, "auth": new}))
        admin = admin_pb2_grpc.AdminServiceStub(server.admin_channel)
        reply = await admin.ReloadConfig(admin_pb2.ReloadConfigRequest())
        assert reply.result.persistent
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate(), metadata=bearer(KEY))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert (await server.stub.Generate(generate(), metadata=bearer(LIMITED))).text


async def test_auth_changes_only_through_the_file() -> None:
    async with running(config(reload=ADMIN)) as server:
        admin = admin_pb2_grpc.AdminServiceStub(server.admin_channel)
        opened = make_config(*PROVIDERS, aliases=ALIASES, reload=ADMIN)  # no auth section
        text = yaml.safe_dump(opened.model_dump(mode="json", by_alias=True, exclude_none=True))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.ApplyConfig(admin_pb2.ApplyConfigRequest(config_yaml=text))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "auth: changes only through the configuration file" in caught.value.details()
        assert await call_method(server.channel, "ListProviders", ()) == (
            grpc.StatusCode.UNAUTHENTICATED
        )


# --- what the start-up log says ------------------------------------------------------------


def test_the_start_up_summary_says_who_can_reach_what() -> None:
    open_app = App(make_config(*PROVIDERS, server={"address": "0.0.0.0:0"}))
    lines = security_summary(open_app)
    assert lines[0] == (
        logging.INFO,
        "security: plaintext; open to every caller (no auth section); AdminService off "
        "(set reload.admin.token_env to serve it)",
    )
    warnings = [text for level, text in lines if level == logging.WARNING]
    assert any("plaintext" in text for text in warnings)
    assert any("no caller keys" in text for text in warnings)

    closed = App(config(reload=ADMIN))
    assert security_summary(closed) == [
        (logging.INFO, "security: plaintext; 2 caller key(s); AdminService on (admin token)")
    ]
