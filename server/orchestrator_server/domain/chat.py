"""What a generation request and its result look like inside the gateway."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from orchestrator_server.domain.caller import ANONYMOUS, Caller


class Role(enum.Enum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class FinishReason(enum.Enum):
    UNSPECIFIED = "unspecified"
    STOP = "stop"
    LENGTH = "length"
    CONTENT_FILTER = "content_filter"
    TOOL_CALL = "tool_call"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class GenerationParams:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    repetition_penalty: float | None = None
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """Who a request is for: for usage events, logs and traces, never for providers.
    `key_id` and `tenant` are the authenticated key's when `caller` is authenticated (the
    request may add `user` and `tags`, never override them); without `auth` they are what
    the caller declared (`x-api-key-id`, `metadata.tenant`). Never the key itself."""

    tenant: str = ""
    user: str = ""
    tags: tuple[str, ...] = ()
    key_id: str = ""
    caller: Caller = ANONYMOUS


NO_META = RequestMeta()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated request as a provider sees it. `model` is None for the provider's default."""

    messages: tuple[ChatMessage, ...]
    params: GenerationParams = field(default_factory=GenerationParams)
    model: str | None = None
    request_id: str = ""
    meta: RequestMeta = NO_META

    def with_model(self, model: str | None) -> ChatRequest:
        if model == self.model:
            return self
        return ChatRequest(self.messages, self.params, model, self.request_id, self.meta)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    estimated: bool = False

    @staticmethod
    def of(prompt: int, completion: int, *, estimated: bool = False) -> Usage:
        return Usage(prompt, completion, prompt + completion, estimated)


@dataclass(frozen=True, slots=True)
class Completion:
    """A provider's complete answer to a unary request."""

    text: str
    model: str
    usage: Usage
    finish_reason: FinishReason = FinishReason.STOP


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One piece of a provider stream. `text` is incremental and may be empty (a usage- or
    finish-only chunk). The last chunk usually carries finish_reason and usage."""

    text: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    model: str | None = None


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about four characters per token for English and code).

    Used only where a provider reports no usage; results are flagged as estimated."""
    return math.ceil(len(text) / 4) if text else 0


def estimate_usage(messages: tuple[ChatMessage, ...], completion: str) -> Usage:
    prompt = sum(estimate_tokens(m.content) + 4 for m in messages)  # ~4 tokens of role framing
    return Usage.of(prompt, estimate_tokens(completion), estimated=True)
