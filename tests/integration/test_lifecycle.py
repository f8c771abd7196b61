"""Health, cancellation and graceful shutdown of the real server."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from orchestrator.v1 import generate_pb2
from orchestrator_server.app import SERVICE_NAME
from tests.helpers import make_config, mock_provider, running

SERVING = health_pb2.HealthCheckResponse.SERVING
LONG_REPLY = " ".join(f"w{i}" for i in range(200))


@pytest.mark.parametrize("service", ["", SERVICE_NAME])
async def test_health_serving_overall_and_per_service(service: str) -> None:
    async with running(make_config(mock_provider("a"))) as server:
        health = health_pb2_grpc.HealthStub(server.channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
    assert reply.status == SERVING


async def test_watch_of_an_unknown_service_says_so() -> None:
    async with running(make_config(mock_provider("a"))) as server:
        watch = health_pb2_grpc.HealthStub(server.channel).Watch(
            health_pb2.HealthCheckRequest(service="nope.v1.Nope")
        )
        first = await watch.read()
        watch.cancel()
    assert first.status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


async def test_health_unknown_service_is_not_found() -> None:
    async with running(make_config(mock_provider("a"))) as server:
        health = health_pb2_grpc.HealthStub(server.channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await health.Check(health_pb2.HealthCheckRequest(service="nope.v1.Nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_cancelled_stream_stops_the_provider() -> None:
    config = make_config(mock_provider("slow", reply=LONG_REPLY, chunk_delay_ms=20))
    async with running(config) as server:
        mock = server.mock("slow")
        call = server.stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt="go"))
        async for event in call:
            if event.HasField("delta"):
                break
        call.cancel()
        await asyncio.wait_for(mock.stream_abandoned.wait(), timeout=5)
        assert mock.abandoned_streams == 1
        assert mock.active_streams == 0


async def test_graceful_shutdown_lets_a_stream_finish_and_refuses_new_calls() -> None:
    config = make_config(mock_provider("slow", reply=LONG_REPLY[:300], chunk_delay_ms=5))
    async with running(config) as server:
        call = server.stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt="go"))
        first = await call.read()
        assert first.HasField("start")

        watch = health_pb2_grpc.HealthStub(server.channel).Watch(
            health_pb2.HealthCheckRequest(service="")
        )
        assert (await watch.read()).status == SERVING
        stopping = asyncio.ensure_future(server.app.stop(grace=30))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        # The watch ends, so it does not hold the shutdown's grace period open.
        assert await watch.read() is grpc.aio.EOF
        assert await watch.code() == grpc.StatusCode.OK

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="late"))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

        kinds = []
        while (event := await call.read()) is not grpc.aio.EOF:
            kinds.append(event.WhichOneof("event"))
        assert kinds[-1] == "end"
        assert await call.code() == grpc.StatusCode.OK
        await stopping
        assert server.mock("slow").closed
