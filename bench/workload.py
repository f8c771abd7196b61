"""What every benchmark run sends and expects: the request, the replies, the gateway config."""

from __future__ import annotations

import json
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
# The upstream suite: the gateway's one `kind: openai` provider, and what bench/upstream.py
# (a zero-latency OpenAI-style server) answers with.
UPSTREAM_PROVIDER = "upstream"
UPSTREAM_MODEL = "bench-model"
CHAT_PATH = "/v1/chat/completions"
REQUEST_ID = "0" * 32  # the length of the gateway's generated ids (uuid4().hex)

# Metrics on (as in production and `make run`), tracing off (its default): what DESIGN §8's
# budget is stated for.
TELEMETRY = "telemetry: {metrics: {address: 127.0.0.1:0}}"

GATEWAY_CONFIG = f"""\
server: {{address: 127.0.0.1:0}}
router: {{strategy: first-available}}
{TELEMETRY}
providers:
  - {{name: {PROVIDER}, kind: mock, model: {MODEL}, mock: {{reply: "{REPLY}"}}}}
"""


def gateway_upstream_config(base_url: str) -> str:
    """The gateway with one OpenAI-compatible provider at `base_url` (e.g. http://HOST:PORT/v1),
    no retries, no key (the local upstream checks none)."""
    return f"""\
server: {{address: 127.0.0.1:0}}
router: {{strategy: first-available}}
{TELEMETRY}
providers:
  - name: {UPSTREAM_PROVIDER}
    kind: openai
    model: {UPSTREAM_MODEL}
    base_url: "{base_url}"
    retries: 0
"""


@dataclass(frozen=True)
class Rpc:
    """One benchmarked method: its HTTP path and the request body (gRPC-framed, or JSON)."""

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
# The same call to an OpenAI-compatible HTTP gateway (bench/peers.py): a JSON body, not framed.
HTTP_CHAT = Rpc(
    "chat.completions",
    CHAT_PATH,
    json.dumps(
        {"model": UPSTREAM_MODEL, "messages": [{"role": "user", "content": PROMPT}]}
    ).encode(),
    False,
)
GENERATE_STREAM = Rpc(
    "GenerateStream", STREAM_PATH, grpc_frame(stream_request().SerializeToString()), True
)


def reply_words() -> list[str]:
    return REPLY.split()


def reply_pieces() -> list[str]:
    """The reply in stream order, one piece per word (as the mock and the upstream send it)."""
    words = reply_words()
    return [words[0]] + [" " + w for w in words[1:]]


def usage() -> common_pb2.Usage:
    prompt, completion = len(PROMPT.split()), len(reply_words())
    return common_pb2.Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def attempt(provider: str = PROVIDER, model: str = MODEL) -> common_pb2.Attempt:
    return common_pb2.Attempt(
        provider=provider,
        model=model,
        outcome=common_pb2.ATTEMPT_OUTCOME_SUCCESS,
        latency=duration_pb2.Duration(nanos=123_456),
    )


def generate_response(
    *,
    text: str = REPLY,
    provider: str = PROVIDER,
    model: str = MODEL,
    reply_usage: common_pb2.Usage | None = None,
    currency: str = "USD",
) -> generate_pb2.GenerateResponse:
    """The floor's reply, shaped like the gateway's (one attempt, a latency, an id). Fixed
    for the mock suite; the upstream floor passes the upstream's text, model and usage."""
    latency = duration_pb2.Duration(nanos=123_456)
    return generate_pb2.GenerateResponse(
        text=text,
        finish_reason=generate_pb2.FINISH_REASON_STOP,
        provider=provider,
        model=model,
        usage=usage() if reply_usage is None else reply_usage,
        cost=common_pb2.Cost(amount=0.0, currency=currency),
        latency=latency,
        attempts=[attempt(provider, model)],
        request_id=REQUEST_ID,
    )


def stream_start(
    provider: str = PROVIDER, model: str = MODEL
) -> generate_pb2.GenerateStreamResponse:
    start = generate_pb2.StreamStart(provider=provider, model=model, request_id=REQUEST_ID)
    return generate_pb2.GenerateStreamResponse(start=start)


def stream_delta(text: str) -> generate_pb2.GenerateStreamResponse:
    return generate_pb2.GenerateStreamResponse(delta=generate_pb2.StreamDelta(text=text))


def stream_end(
    *,
    provider: str = PROVIDER,
    model: str = MODEL,
    reply_usage: common_pb2.Usage | None = None,
    currency: str = "USD",
) -> generate_pb2.GenerateStreamResponse:
    end = generate_pb2.StreamEnd(
        finish_reason=generate_pb2.FINISH_REASON_STOP,
        usage=usage() if reply_usage is None else reply_usage,
        cost=common_pb2.Cost(amount=0.0, currency=currency),
        attempts=[attempt(provider, model)],
        latency=duration_pb2.Duration(nanos=234_567),
        time_to_first_token=duration_pb2.Duration(nanos=123_456),
    )
    return generate_pb2.GenerateStreamResponse(end=end)


def stream_events() -> list[generate_pb2.GenerateStreamResponse]:
    """The floor's fixed stream: start, one delta per word (as the mock sends), end."""
    return [stream_start(), *(stream_delta(d) for d in reply_pieces()), stream_end()]


# What the zero-latency upstream answers (bench/upstream.py), as OpenAI's API does.


def completion_json() -> dict[str, object]:
    """A whole chat.completion, with usage."""
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": UPSTREAM_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": REPLY},
                "finish_reason": "stop",
            }
        ],
        "usage": usage_json(),
    }


def usage_json() -> dict[str, int]:
    u = usage()
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
    }


def completion_chunks(include_usage: bool) -> list[dict[str, object]]:
    """The chat.completion.chunk objects of one stream: one per reply piece (the first also
    carries the role, the last the finish reason), then the usage chunk when asked for."""
    pieces = reply_pieces()
    chunks: list[dict[str, object]] = []
    for i, piece in enumerate(pieces):
        delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
        finish = "stop" if i == len(pieces) - 1 else None
        chunks.append(_chunk([{"index": 0, "delta": delta, "finish_reason": finish}]))
    if include_usage:
        chunks.append({**_chunk([]), "usage": usage_json()})
    return chunks


def _chunk(choices: list[dict[str, object]]) -> dict[str, object]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": UPSTREAM_MODEL,
        "choices": choices,
    }
