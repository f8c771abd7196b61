"""A cached reply: what a completed call returned, enough to answer again as a reply or as
a stream, and its wire form in Redis."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator_server.domain.chat import Completion, FinishReason, Usage

FORMAT = 1  # bumped when the stored form changes; other forms read as misses
_WORDS = re.compile(r"\s*\S+\s*")
REPLAY_PIECE = 32  # characters per piece when a reply that was not streamed is replayed


class UnreadableEntry(ValueError):
    """A stored entry of another format or damaged: treated as a miss."""


@dataclass(frozen=True, slots=True)
class CachedResponse:
    text: str
    finish_reason: FinishReason
    usage: Usage
    provider: str
    model: str
    # Lengths of the stream's text pieces in order; empty for a unary reply (re-chunked).
    chunks: tuple[int, ...] = ()
    # JSON-safe parts of a reply beyond text (tool calls, structured output), kept as given.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def of(completion: Completion, provider: str, **extra: Any) -> CachedResponse:
        return CachedResponse(
            completion.text,
            completion.finish_reason,
            completion.usage,
            provider,
            completion.model,
            extra=extra,
        )

    def pieces(self) -> Iterator[str]:
        """The text as stream deltas: the recorded pieces, or word groups for a reply that
        was not streamed. Never an empty piece."""
        if self.chunks and sum(self.chunks) == len(self.text):
            at = 0
            for size in self.chunks:
                if size:
                    yield self.text[at : at + size]
                at += size
            return
        piece = ""
        for word in _WORDS.findall(self.text):
            piece += word
            if len(piece) >= REPLAY_PIECE:
                yield piece
                piece = ""
        if piece:
            yield piece

    def to_bytes(self) -> bytes:
        usage = self.usage
        return json.dumps(
            {
                "v": FORMAT,
                "text": self.text,
                "finish": self.finish_reason.value,
                "usage": [
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    usage.total_tokens,
                    usage.estimated,
                ],
                "provider": self.provider,
                "model": self.model,
                "chunks": self.chunks,
                "extra": self.extra,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()

    @staticmethod
    def from_bytes(data: bytes) -> CachedResponse:
        try:
            raw = json.loads(data)
            if raw.get("v") != FORMAT:
                raise UnreadableEntry(f"format {raw.get('v')!r}")
            prompt, completion, total, estimated = raw["usage"]
            return CachedResponse(
                text=str(raw["text"]),
                finish_reason=FinishReason(raw["finish"]),
                usage=Usage(int(prompt), int(completion), int(total), bool(estimated)),
                provider=str(raw["provider"]),
                model=str(raw["model"]),
                chunks=tuple(int(n) for n in raw["chunks"]),
                extra=dict(raw["extra"]),
            )
        except UnreadableEntry:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UnreadableEntry(str(exc)) from None
