"""Readers for the two stream framings providers use: Server-Sent Events and NDJSON.

Both follow the robustness rules every official SDK follows: `data:` with or without a
space, `:` comments, CRLF line ends, multi-line data joined with newlines, a last event
without its blank line, and (for the caller to check) `error` objects in a 200 stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

from orchestrator_server.domain.errors import ErrorKind, ProviderError


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str  # "" when the server named none
    data: str


def _malformed(what: str) -> ProviderError:
    return ProviderError(ErrorKind.MALFORMED_RESPONSE, f"upstream sent {what}")


async def _lines(body: AsyncIterable[bytes]) -> AsyncIterator[str]:
    try:
        async for raw in body:
            yield raw.decode("utf-8").rstrip("\n").rstrip("\r")
    except UnicodeDecodeError:
        raise _malformed("a line that is not UTF-8") from None
    except ValueError:  # aiohttp: a line longer than the read buffer
        raise _malformed("an over-long line") from None


async def read_sse(body: AsyncIterable[bytes]) -> AsyncIterator[SseEvent]:
    """Events of an SSE body (e.g. `response.content`), in order."""
    event = ""
    data: list[str] = []
    async for line in _lines(body):
        if not line:
            if data:
                yield SseEvent(event, "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        # `id:` and `retry:` mean nothing to a one-shot completion stream.
    if data:
        yield SseEvent(event, "\n".join(data))


def sse_json(event: SseEvent) -> Any:
    try:
        return json.loads(event.data)
    except ValueError:
        raise _malformed("an SSE event whose data is not JSON") from None


async def read_ndjson(body: AsyncIterable[bytes]) -> AsyncIterator[Any]:
    """JSON values of a newline-delimited JSON body, skipping blank lines."""
    async for line in _lines(body):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError:
            raise _malformed("a stream line that is not JSON") from None
