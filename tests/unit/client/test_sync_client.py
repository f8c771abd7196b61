"""OrchestratorClient on grpcio-testing's channel: scripted replies, no server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import grpc
import grpc_testing
import pytest

from orchestrator.v1 import (
    common_pb2,
    generate_pb2,
    metrics_pb2,
    orchestrator_service_pb2,
    retrieve_pb2,
    validate_key_pb2,
)
from orchestrator_client import (
    ConnectError,
    OrchestratorClient,
    RetryPolicy,
    StreamInterrupted,
    Unavailable,
)
from tests.scripted import Abort

SERVICE = orchestrator_service_pb2.DESCRIPTOR.services_by_name["OrchestratorService"]
TRAIL = common_pb2.AttemptTrail(
    attempts=[
        common_pb2.Attempt(
            provider="a",
            model="m",
            outcome=common_pb2.ATTEMPT_OUTCOME_FAILED,
            error_code="unavailable",
            message="upstream answered 503",
        )
    ]
)


class Harness:
    def __init__(self, channel: Any, pool: ThreadPoolExecutor) -> None:
        self.channel = channel
        self.pool = pool
        self.waits: list[float] = []

    def client(self, **settings: Any) -> OrchestratorClient:
        return OrchestratorClient(channel=self.channel, sleep=self.waits.append, **settings)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        return self.pool.submit(fn, *args, **kwargs)

    def answer(self, method: str, reply: Any) -> tuple[dict[str, Any], Any]:
        """Takes the next call of a unary method and answers it; returns its metadata and
        request."""
        metadata, request, rpc = self.channel.take_unary_unary(SERVICE.methods_by_name[method])
        if isinstance(reply, Abort):
            rpc.terminate(None, reply.trailing_metadata(), reply.code, reply.message)
        else:
            rpc.terminate(reply, (), grpc.StatusCode.OK, "")
        return dict(metadata), request

    def stream(self, events: list[Any], end: Abort | None = None) -> Any:
        _, request, rpc = self.channel.take_unary_stream(SERVICE.methods_by_name["GenerateStream"])
        for event in events:
            rpc.send_response(event)
        if end is None:
            rpc.terminate((), grpc.StatusCode.OK, "")
        else:
            rpc.terminate(end.trailing_metadata(), end.code, end.message)
        return request


@pytest.fixture
def harness() -> Iterator[Harness]:
    channel = grpc_testing.channel([SERVICE], grpc_testing.strict_real_time())
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield Harness(channel, pool)


def test_generate_builds_the_request_and_metadata(harness: Harness) -> None:
    client = harness.client(auth_token="tok", tenant="acme")
    future = harness.call(
        client.generate,
        "hi",
        model="small",
        max_tokens=16,
        stop=["\n"],
        strategy="round-robin",
        request_id="r-1",
    )
    metadata, request = harness.answer("Generate", generate_pb2.GenerateResponse(text="hello"))
    assert future.result(timeout=10).text == "hello"
    assert (request.prompt, request.model) == ("hi", "small")
    assert request.params.max_tokens == 16
    assert not request.params.HasField("temperature")
    assert list(request.params.stop) == ["\n"]
    assert request.routing.strategy == common_pb2.ROUTING_STRATEGY_ROUND_ROBIN
    assert request.metadata.tenant == "acme"
    assert metadata["authorization"] == "Bearer tok"
    assert metadata["x-request-id"] == "r-1"


def test_error_carries_reason_attempts_and_request_id(harness: Harness) -> None:
    future = harness.call(harness.client().generate, "hi")
    abort = Abort(
        grpc.StatusCode.UNAVAILABLE,
        "all providers failed",
        "ALL_PROVIDERS_FAILED",
        request_id="rq-9",
        details=[TRAIL],
    )
    harness.answer("Generate", abort)
    with pytest.raises(Unavailable) as caught:
        future.result(timeout=10)
    error = caught.value
    assert (error.reason, error.request_id) == ("ALL_PROVIDERS_FAILED", "rq-9")
    assert [a.provider for a in error.attempts] == ["a"]
    assert "upstream answered 503" in error.describe()


def test_unavailable_without_details_is_a_connect_error(harness: Harness) -> None:
    future = harness.call(harness.client().metrics)
    harness.answer("GetMetrics", Abort(grpc.StatusCode.UNAVAILABLE, "failed to connect"))
    with pytest.raises(ConnectError):
        future.result(timeout=10)


def test_retry_honours_retry_info(harness: Harness) -> None:
    client = harness.client(retry=RetryPolicy(max_attempts=3))
    future = harness.call(client.metrics, ["a"])
    down = Abort(grpc.StatusCode.UNAVAILABLE, "open", "ALL_PROVIDERS_FAILED", retry_after=0.25)
    harness.answer("GetMetrics", down)
    _, request = harness.answer("GetMetrics", metrics_pb2.GetMetricsResponse())
    future.result(timeout=10)
    assert harness.waits == [0.25]
    assert list(request.providers) == ["a"]


def test_retry_without_retry_info_backs_off_within_the_cap(harness: Harness) -> None:
    client = harness.client(retry=RetryPolicy(max_attempts=2, initial_backoff=0.1))
    future = harness.call(client.generate, "hi")
    down = Abort(grpc.StatusCode.UNAVAILABLE, "down", "ALL_PROVIDERS_FAILED")
    harness.answer("Generate", down)
    harness.answer("Generate", down)
    with pytest.raises(Unavailable) as caught:
        future.result(timeout=10)
    assert caught.value.calls == 2
    assert len(harness.waits) == 1
    assert 0 <= harness.waits[0] <= 0.1


def test_stream_yields_deltas_and_the_end(harness: Harness) -> None:
    stream = harness.client().stream(messages=[("user", "hi")])
    future = harness.call(list, stream)
    events = [
        generate_pb2.GenerateStreamResponse(start=generate_pb2.StreamStart(provider="p")),
        generate_pb2.GenerateStreamResponse(delta=generate_pb2.StreamDelta(text="he")),
        generate_pb2.GenerateStreamResponse(delta=generate_pb2.StreamDelta(text="llo")),
        generate_pb2.GenerateStreamResponse(
            end=generate_pb2.StreamEnd(usage=common_pb2.Usage(total_tokens=5))
        ),
    ]
    request = harness.stream(events)
    assert future.result(timeout=10) == ["he", "llo"]
    assert request.messages[0].role == generate_pb2.ROLE_USER
    assert stream.provider == "p"
    assert stream.usage is not None
    assert stream.usage.total_tokens == 5


def test_stream_broken_mid_way_is_partial_and_not_retried(harness: Harness) -> None:
    stream = harness.client(retry=RetryPolicy()).stream("hi")
    first = harness.call(next, stream)
    _, _, rpc = harness.channel.take_unary_stream(SERVICE.methods_by_name["GenerateStream"])
    rpc.send_response(
        generate_pb2.GenerateStreamResponse(delta=generate_pb2.StreamDelta(text="par"))
    )
    assert first.result(timeout=10) == "par"
    rest = harness.call(list, stream)
    cut = Abort(
        grpc.StatusCode.UNAVAILABLE,
        "stream interrupted",
        "STREAM_INTERRUPTED",
        trailing=[("orchestrator-partial-output", "true")],
    )
    rpc.terminate(cut.trailing_metadata(), cut.code, cut.message)
    with pytest.raises(StreamInterrupted) as caught:
        rest.result(timeout=10)
    assert caught.value.partial_output
    assert stream.text == "par"
    assert harness.waits == []


def test_validate_key_and_retrieve(harness: Harness) -> None:
    client = harness.client()
    future = harness.call(client.validate_key, "yandexgpt", "k", folder_id="b1g", iam_token=True)
    _, request = harness.answer("ValidateKey", validate_key_pb2.ValidateKeyResponse(valid=False))
    assert not future.result(timeout=10).valid
    assert request.provider == common_pb2.PROVIDER_KIND_YANDEXGPT
    assert request.credential_type == validate_key_pb2.CREDENTIAL_TYPE_IAM_TOKEN

    future = harness.call(client.retrieve, "docs", "q", score_threshold=0.5)
    _, request = harness.answer("Retrieve", retrieve_pb2.RetrieveResponse())
    future.result(timeout=10)
    assert request.score_threshold == 0.5
    assert request.k == 4
