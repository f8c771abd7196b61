"""The error border: every RPC of every orchestrator service answers a failure with a status
that carries ErrorInfo and the request id, whatever fails and wherever: bytes that do not
parse, a bug in a method that has no handler of its own, a domain error."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from orchestrator.v1 import admin_pb2, generate_pb2, orchestrator_service_pb2, retrieve_pb2
from tests.helpers import (
    ADMIN,
    Running,
    detail,
    error_reason,
    make_config,
    mock_provider,
    running,
)

SERVICES = (
    orchestrator_service_pb2.DESCRIPTOR.services_by_name["OrchestratorService"],
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"],
)
# A tag whose varint never ends: no message type parses it.
GARBAGE = b"\xff"


def methods() -> list[Any]:
    return [
        pytest.param(method, id=f"{service.name}.{method.name}")
        for service in SERVICES
        for method in service.methods
    ]


def raw_call(server: Running, method: Any) -> Any:
    """A callable sending `bytes` as the request of `method`, as they are (AdminService's with
    the admin token: the border authenticates a call before it reads the request)."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    admin = method.containing_service.full_name == SERVICES[1].full_name
    channel = server.admin_channel if admin else server.channel
    if method.server_streaming:
        return channel.unary_stream(path, request_serializer=None)
    return channel.unary_unary(path, request_serializer=None)


async def call_raw(server: Running, method: Any, body: bytes, request_id: str) -> None:
    call = raw_call(server, method)(body, metadata=[("x-request-id", request_id)])
    if method.server_streaming:
        async for _ in call:
            pass
    else:
        await call


def nested_struct(depth: int) -> bytes:
    """A google.protobuf.Struct `depth` levels deep ({"a": {"a": ...}}), encoded by hand:
    protobuf itself refuses to build one past its parse limit."""
    inner = b""
    for _ in range(depth):
        value = _field(5, inner)  # Value.struct_value
        entry = _field(1, b"a") + _field(2, value)  # map entry: key, value
        inner = _field(1, entry)  # Struct.fields
    return inner


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2]) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


NOT_UTF8 = b"\xff\xfe broken"
UNDECODABLE = [
    pytest.param("Generate", _field(2, NOT_UTF8), id="generate-prompt-not-utf8"),
    pytest.param("GenerateStream", _field(2, NOT_UTF8), id="stream-prompt-not-utf8"),
    pytest.param(
        "Generate",
        _field(2, b"hi") + _field(7, _field(4, nested_struct(120))),
        id="generate-attributes-too-deep",
    ),
    pytest.param(
        "Retrieve",
        _field(1, b"docs") + _field(2, b"q") + _field(7, nested_struct(120)),
        id="retrieve-filter-too-deep",
    ),
]


@pytest.fixture
def quiet_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def assert_one_line_no_traceback(caplog: pytest.LogCaptureFixture, request_id: str) -> None:
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    mine = [r for r in caplog.records if request_id in r.getMessage()]
    assert len(mine) == 1, [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("method", methods())
async def test_undecodable_request_is_invalid_argument_on_every_rpc(
    method: Any, quiet_logs: pytest.LogCaptureFixture
) -> None:
    config = make_config(mock_provider("a"), reload=ADMIN)
    async with running(config) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call_raw(server, method, GARBAGE, "undecodable-1")
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error_reason(error) == "INVALID_REQUEST"
    info = detail(error, error_details_pb2.ErrorInfo)
    assert info.metadata["request_id"] == "undecodable-1"
    bad = detail(error, error_details_pb2.BadRequest)
    assert bad is not None
    assert method.input_type.name in bad.field_violations[0].description
    assert_one_line_no_traceback(quiet_logs, "undecodable-1")


@pytest.mark.parametrize(("name", "body"), UNDECODABLE)
async def test_bytes_protobuf_refuses_are_invalid_argument(
    name: str, body: bytes, quiet_logs: pytest.LogCaptureFixture
) -> None:
    method = SERVICES[0].methods_by_name[name]
    async with running(make_config(mock_provider("a"))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call_raw(server, method, body, "undecodable-2")
        assert server.mock("a").calls == 0
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert detail(caught.value, error_details_pb2.ErrorInfo).metadata["request_id"]
    assert_one_line_no_traceback(quiet_logs, "undecodable-2")


def test_the_hand_encoded_struct_is_what_protobuf_would_parse() -> None:
    # The encoder above is right: a shallow one parses into the expected shape.
    shallow = retrieve_pb2.RetrieveRequest.FromString(_field(7, nested_struct(3)))
    assert shallow.filter["a"]["a"] == {"a": {}}


@pytest.mark.parametrize(
    ("method", "break_it"),
    [
        pytest.param("GetMetrics", "snapshot", id="GetMetrics"),
        pytest.param("ListProviders", "slots", id="ListProviders"),
    ],
)
async def test_a_bug_in_any_rpc_is_internal_with_error_info(
    method: str, break_it: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(make_config(mock_provider("a"))) as server:
        router = server.app.router

        def explode(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("a bug with sk-secret-123 in its text")

        monkeypatch.setattr(type(router), break_it, property(explode), raising=True)
        stub_method = getattr(server.stub, method)
        request = SERVICES[0].methods_by_name[method].input_type._concrete_class()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub_method(request, metadata=[("x-request-id", "bug-1")])
    error = caught.value
    assert error.code() == grpc.StatusCode.INTERNAL
    assert error_reason(error) == "INTERNAL"
    assert detail(error, error_details_pb2.ErrorInfo).metadata["request_id"] == "bug-1"
    assert "bug-1" in error.details()
    assert "sk-secret" not in error.details()


async def test_generate_still_answers_after_a_bad_request() -> None:
    method = SERVICES[0].methods_by_name["Generate"]
    async with running(make_config(mock_provider("a", reply="fine"))) as server:
        with pytest.raises(grpc.aio.AioRpcError):
            await call_raw(server, method, GARBAGE, "bad-then-good")
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert reply.text == "fine"
