"""The async client against a scripted server: ValidateKey, Retrieve, metadata, RetryInfo."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import duration_pb2, struct_pb2

from orchestrator.v1 import (
    common_pb2,
    generate_pb2,
    metrics_pb2,
    retrieve_pb2,
    validate_key_pb2,
)
from orchestrator_client import (
    AsyncOrchestratorClient,
    RateLimited,
    RetryPolicy,
    Unavailable,
    Unimplemented,
)
from tests.scripted import Abort, scripted_server

DOCUMENTS = retrieve_pb2.RetrieveResponse(
    documents=[
        retrieve_pb2.RetrievedDocument(
            id="doc-1#0",
            content="Circuit breakers stop calls to a failing provider.",
            metadata=struct_pb2.Struct(fields={"source": struct_pb2.Value(string_value="a.md")}),
            score=0.91,
        )
    ]
)
VALID = validate_key_pb2.ValidateKeyResponse(
    valid=True,
    error_code=validate_key_pb2.VALIDATION_ERROR_CODE_SUCCESS,
    message="key accepted",
    details=validate_key_pb2.ValidationDetails(detected_scope="GIGACHAT_API_PERS", attempts=1),
)


async def test_validate_key_sends_kind_key_and_scope() -> None:
    async with scripted_server() as server, AsyncOrchestratorClient(server.target) as client:
        server.script("ValidateKey", VALID)
        reply = await client.validate_key("gigachat", "secret-key", scope="GIGACHAT_API_PERS")
    assert reply.valid
    assert reply.details.detected_scope == "GIGACHAT_API_PERS"
    request = server.calls[0].request
    assert request.provider == common_pb2.PROVIDER_KIND_GIGACHAT
    assert (request.api_key, request.scope) == ("secret-key", "GIGACHAT_API_PERS")


async def test_validate_key_rejects_an_unknown_kind_before_calling() -> None:
    async with scripted_server() as server, AsyncOrchestratorClient(server.target) as client:
        with pytest.raises(ValueError, match="unknown provider kind"):
            await client.validate_key("nonsense", "k")
    assert server.calls == []


async def test_retrieve_sends_search_options() -> None:
    async with scripted_server() as server, AsyncOrchestratorClient(server.target) as client:
        server.script("Retrieve", DOCUMENTS)
        reply = await client.retrieve(
            "docs",
            "what is a circuit breaker",
            k=3,
            search_type="mmr",
            fetch_k=12,
            lambda_mult=0.25,
            filter={"source": "a.md"},
        )
    assert [d.id for d in reply.documents] == ["doc-1#0"]
    request = server.calls[0].request
    assert (request.collection, request.query, request.k) == (
        "docs",
        "what is a circuit breaker",
        3,
    )
    assert request.search_type == retrieve_pb2.SEARCH_TYPE_MMR
    assert (request.fetch_k, request.lambda_mult) == (12, 0.25)
    assert request.filter["source"] == "a.md"
    assert not request.HasField("score_threshold")


async def test_metadata_auth_tenant_and_deadline_travel() -> None:
    async with scripted_server() as server:
        client = AsyncOrchestratorClient(
            server.target,
            auth_token="t0ken",
            metadata={"x-team": "search"},
            tenant="acme",
            user="u-1",
            timeout=30,
        )
        server.script("Generate", generate_pb2.GenerateResponse(text="ok"))
        async with client:
            await client.generate("hi", request_id="abc", tags=["faq"])
    call = server.calls[0]
    assert call.metadata["authorization"] == "Bearer t0ken"
    assert call.metadata["x-team"] == "search"
    assert call.metadata["x-request-id"] == "abc"
    assert call.deadline_set
    assert (call.request.metadata.tenant, call.request.metadata.user) == ("acme", "u-1")
    assert list(call.request.metadata.tags) == ["faq"]


async def test_retry_waits_what_retry_info_says() -> None:
    waits: list[float] = []

    async def record(delay: float) -> None:
        waits.append(delay)

    async with scripted_server() as server:
        server.script(
            "GetMetrics",
            Abort(
                grpc.StatusCode.UNAVAILABLE,
                "circuits open",
                "ALL_PROVIDERS_FAILED",
                retry_after=1.5,
            ),
            Abort(
                grpc.StatusCode.UNAVAILABLE,
                "circuits open",
                "ALL_PROVIDERS_FAILED",
                retry_after=0.5,
            ),
            metrics_pb2.GetMetricsResponse(uptime=duration_pb2.Duration(seconds=5)),
        )
        client = AsyncOrchestratorClient(server.target, retry=RetryPolicy(), sleep=record)
        async with client:
            reply = await client.metrics()
    assert reply.uptime.seconds == 5
    assert waits == [1.5, 0.5]
    assert len(server.calls) == 3


async def test_retry_info_longer_than_the_deadline_is_not_waited_out() -> None:
    async def never(delay: float) -> None:
        raise AssertionError("must not wait")

    async with scripted_server() as server:
        server.script(
            "Generate",
            Abort(grpc.StatusCode.UNAVAILABLE, "down", "ALL_PROVIDERS_FAILED", retry_after=60),
        )
        client = AsyncOrchestratorClient(
            server.target, retry=RetryPolicy(max_retry_info_delay=120), sleep=never, timeout=10
        )
        async with client:
            with pytest.raises(Unavailable) as caught:
                await client.generate("hi")
    assert caught.value.retry_after == 60
    assert caught.value.calls == 1


async def test_other_statuses_are_not_retried() -> None:
    async with scripted_server() as server:
        server.script(
            "Generate",
            Abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", "ALL_PROVIDERS_RATE_LIMITED"),
        )
        async with AsyncOrchestratorClient(server.target, retry=RetryPolicy()) as client:
            with pytest.raises(RateLimited):
                await client.generate("hi")
    assert len(server.calls) == 1


async def test_stream_is_retried_before_its_first_event() -> None:
    async def no_wait(delay: float) -> None:
        pass

    events = [
        generate_pb2.GenerateStreamResponse(start=generate_pb2.StreamStart(provider="p")),
        generate_pb2.GenerateStreamResponse(delta=generate_pb2.StreamDelta(text="hello")),
        generate_pb2.GenerateStreamResponse(end=generate_pb2.StreamEnd()),
    ]
    async with scripted_server() as server:
        server.script(
            "GenerateStream",
            [Abort(grpc.StatusCode.UNAVAILABLE, "down", "ALL_PROVIDERS_FAILED")],
            events,
        )
        client = AsyncOrchestratorClient(server.target, retry=RetryPolicy(), sleep=no_wait)
        async with client:
            assert await client.stream("hi").collect() == "hello"
    assert len(server.calls) == 2


async def test_stream_without_end_event_is_interrupted() -> None:
    events = [generate_pb2.GenerateStreamResponse(delta=generate_pb2.StreamDelta(text="half"))]
    async with scripted_server() as server, AsyncOrchestratorClient(server.target) as client:
        server.script("GenerateStream", events)
        stream = client.stream("hi")
        with pytest.raises(Unavailable) as caught:
            await stream.collect()
    assert caught.value.partial_output
    assert stream.text == "half"


async def test_unimplemented_is_its_own_class() -> None:
    async with scripted_server() as server, AsyncOrchestratorClient(server.target) as client:
        server.script(
            "Retrieve", Abort(grpc.StatusCode.UNIMPLEMENTED, "not yet", "NOT_IMPLEMENTED")
        )
        with pytest.raises(Unimplemented):
            await client.retrieve("docs", "q")
