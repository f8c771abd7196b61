"""The Python clients' streams end their call when the caller is done with them: closed, left
by a context manager, or simply abandoned (a `break` out of the loop); and a stream cut after
text reports partial output whatever the status's trailers say."""

from __future__ import annotations

import asyncio
import gc
import threading

import grpc
import pytest

from orchestrator.v1 import generate_pb2
from orchestrator_client import (
    AsyncOrchestratorClient,
    DeadlineExceeded,
    OrchestratorClient,
)
from tests.helpers import make_config, mock_provider, running
from tests.scripted import Abort, scripted_server

LONG = " ".join(f"w{i}" for i in range(2000))
SLOW = {"reply": LONG, "chunk_delay_ms": 10}  # twenty seconds of stream


@pytest.fixture(autouse=True)
def no_collector() -> object:
    """The cyclic garbage collector off: an abandoned stream must end its call at once, not
    whenever a collection happens to run."""
    gc.disable()
    try:
        yield None
    finally:
        gc.enable()


async def test_breaking_out_of_an_async_stream_cancels_the_call() -> None:
    async with running(make_config(mock_provider("slow", **SLOW))) as server:
        client = AsyncOrchestratorClient(server.target)
        async for _text in client.stream("go"):
            break
        await asyncio.wait_for(server.mock("slow").stream_abandoned.wait(), timeout=5)
        assert server.mock("slow").active_streams == 0
        await client.close()


async def test_an_abandoned_async_stream_cancels_the_call() -> None:
    async with running(make_config(mock_provider("slow", **SLOW))) as server:
        client = AsyncOrchestratorClient(server.target)
        stream = client.stream("go")
        assert await anext(stream)
        del stream
        await asyncio.wait_for(server.mock("slow").stream_abandoned.wait(), timeout=5)
        await client.close()


async def test_closing_or_leaving_the_context_cancels_the_call() -> None:
    async with running(make_config(mock_provider("slow", **SLOW))) as server:
        client = AsyncOrchestratorClient(server.target)
        async with client.stream("go") as stream:
            assert await anext(stream)
        await asyncio.wait_for(server.mock("slow").stream_abandoned.wait(), timeout=5)
        await client.close()


async def test_breaking_out_of_a_sync_stream_cancels_the_call() -> None:
    async with running(make_config(mock_provider("slow", **SLOW))) as server:
        done = threading.Event()

        def consume() -> None:
            with OrchestratorClient(server.target) as client:
                for _text in client.stream("go"):
                    break
                done.set()

        worker = asyncio.get_running_loop().run_in_executor(None, consume)
        await asyncio.wait_for(server.mock("slow").stream_abandoned.wait(), timeout=5)
        await worker
        assert done.is_set()


async def test_a_stream_cut_after_text_is_partial_without_the_trailer() -> None:
    events = [
        generate_pb2.GenerateStreamResponse(start=generate_pb2.StreamStart(provider="p")),
        generate_pb2.GenerateStreamResponse(delta=generate_pb2.StreamDelta(text="five words")),
        # As when the call's own deadline fires first: no partial-output trailer.
        Abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded"),
    ]
    async with scripted_server() as server, AsyncOrchestratorClient(server.target) as client:
        server.script("GenerateStream", events)
        async with client.stream("hi") as stream:
            with pytest.raises(DeadlineExceeded) as caught:
                await stream.collect()
    assert stream.text == "five words"
    assert caught.value.partial_output
