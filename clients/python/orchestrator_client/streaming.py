"""What a stream has told so far: shared by the async and sync stream wrappers."""

from __future__ import annotations

import grpc

from orchestrator.v1 import common_pb2, generate_pb2, tools_pb2
from orchestrator_client.errors import OrchestratorError, StreamInterrupted


class StreamState:
    """The start event, the text so far and the end event of one GenerateStream call.

    Iterating a stream yields the deltas; once it is exhausted, `end`, `usage`,
    `finish_reason` and `attempts` hold the final figures.
    """

    def __init__(self) -> None:
        self.start: generate_pb2.StreamStart | None = None
        self.end: generate_pb2.StreamEnd | None = None
        self._parts: list[str] = []
        # Tool-call fragments as they came; `tool_calls` has them assembled at the end.
        self.tool_call_deltas: list[tools_pb2.ToolCallDelta] = []

    @property
    def received_any(self) -> bool:
        return self.start is not None or bool(self._parts) or self.end is not None

    def absorb(self, event: generate_pb2.GenerateStreamResponse) -> str | None:
        """The delta's text, or None for a start or end event (or a delta that carries only
        tool-call fragments)."""
        kind = event.WhichOneof("event")
        if kind == "delta":
            self.tool_call_deltas.extend(event.delta.tool_calls)
            if not event.delta.text:
                return None
            self._parts.append(event.delta.text)
            return event.delta.text
        if kind == "start":
            self.start = event.start
        elif kind == "end":
            self.end = event.end
        return None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def failed(self, error: OrchestratorError) -> OrchestratorError:
        """`error` as this stream ends with it: partial once text or tool-call fragments have
        arrived, whatever the status's trailers say (the call's own deadline may have fired
        before the server's answer, with its partial-output trailer, came back)."""
        if self._parts or self.tool_call_deltas:
            error.partial_output = True
        return error

    @property
    def provider(self) -> str:
        return self.start.provider if self.start is not None else ""

    @property
    def model(self) -> str:
        return self.start.model if self.start is not None else ""

    @property
    def request_id(self) -> str:
        return self.start.request_id if self.start is not None else ""

    @property
    def usage(self) -> common_pb2.Usage | None:
        return self.end.usage if self.end is not None else None

    @property
    def finish_reason(self) -> generate_pb2.FinishReason:
        return (
            self.end.finish_reason
            if self.end is not None
            else generate_pb2.FINISH_REASON_UNSPECIFIED
        )

    @property
    def tool_calls(self) -> list[tools_pb2.ToolCall]:
        """The reply's tool calls, assembled (known once the stream has ended)."""
        return list(self.end.tool_calls) if self.end is not None else []

    @property
    def attempts(self) -> list[common_pb2.Attempt]:
        return list(self.end.attempts) if self.end is not None else []

    @property
    def done(self) -> bool:
        return self.end is not None


def ended_without_end(calls: int) -> StreamInterrupted:
    """A stream closed cleanly but without its end event, e.g. by a proxy mid-way."""
    return StreamInterrupted(
        grpc.StatusCode.UNAVAILABLE,
        "the stream ended without its end event",
        partial_output=True,
        calls=calls,
    )
