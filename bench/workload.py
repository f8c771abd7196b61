"""What every benchmark run sends and expects: the request, the replies, the gateway config."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from google.protobuf import duration_pb2

from orchestrator.v1 import common_pb2, generate_pb2

SERVICE = "orchestrator.v1.OrchestratorService"
GENERATE_PATH = f"/{SERVICE}/Generate"
STREAM_PATH = f"/{SERVICE}/GenerateStream"

PROMPT = "Say hello to the benchmark."
REPLY = "Hello from the benchmark mock, a short reply of a dozen words or so."
PROVIDER = "mock"
MODEL = "mock-bench"
REQUEST_ID = "0" * 32  # the length of the gateway's generated ids (uuid4().hex)

GATEWAY_CONFIG = f"""\
server: {{address: 127.0.0.1:0}}
router: {{strategy: first-available}}
providers:
  - {{name: {PROVIDER}, kind: mock, model: {MODEL}, mock: {{reply: "{REPLY}"}}}}
"""


@dataclass(frozen=True)
class Rpc:
    """One benchmarked method: its HTTP/2 path and the gRPC-framed request body."""

    name: str
    path: str
    body: bytes
    streaming: bool


def grpc_frame(payload: bytes) -> bytes:
    """A gRPC length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length."""
    return struct.pack(">BI", 0, len(payload)) + payload


def generate_request() -> generate_pb2.GenerateRequest:
    return generate_pb2.GenerateRequest(prompt=PROMPT)


def stream_request() -> generate_pb2.GenerateStreamRequest:
    return generate_pb2.GenerateStreamRequest(prompt=PROMPT)


GENERATE = Rpc("Generate", GENERATE_PATH, grpc_frame(generate_request().SerializeToString()), False)
GENERATE_STREAM = Rpc(
    "GenerateStream", STREAM_PATH, grpc_frame(stream_request().SerializeToString()), True
)


def reply_words() -> list[str]:
    return REPLY.split()


def usage() -> common_pb2.Usage:
    prompt, completion = len(PROMPT.split()), len(reply_words())
    return common_pb2.Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def attempt() -> common_pb2.Attempt:
    return common_pb2.Attempt(
        provider=PROVIDER,
        model=MODEL,
        outcome=common_pb2.ATTEMPT_OUTCOME_SUCCESS,
        latency=duration_pb2.Duration(nanos=123_456),
    )


def generate_response() -> generate_pb2.GenerateResponse:
    """The floor's fixed reply, shaped like the gateway's (one attempt, a latency, an id)."""
    latency = duration_pb2.Duration(nanos=123_456)
    return generate_pb2.GenerateResponse(
        text=REPLY,
        finish_reason=generate_pb2.FINISH_REASON_STOP,
        provider=PROVIDER,
        model=MODEL,
        usage=usage(),
        cost=common_pb2.Cost(amount=0.0, currency="USD"),
        latency=latency,
        attempts=[attempt()],
        request_id=REQUEST_ID,
    )


def stream_events() -> list[generate_pb2.GenerateStreamResponse]:
    """The floor's fixed stream: start, one delta per word (as the mock sends), end."""
    words = reply_words()
    start = generate_pb2.StreamStart(provider=PROVIDER, model=MODEL, request_id=REQUEST_ID)
    deltas = [words[0]] + [" " + w for w in words[1:]]
    end = generate_pb2.StreamEnd(
        finish_reason=generate_pb2.FINISH_REASON_STOP,
        usage=usage(),
        cost=common_pb2.Cost(amount=0.0, currency="USD"),
        attempts=[attempt()],
        latency=duration_pb2.Duration(nanos=234_567),
        time_to_first_token=duration_pb2.Duration(nanos=123_456),
    )
    return [
        generate_pb2.GenerateStreamResponse(start=start),
        *(
            generate_pb2.GenerateStreamResponse(delta=generate_pb2.StreamDelta(text=d))
            for d in deltas
        ),
        generate_pb2.GenerateStreamResponse(end=end),
    ]
