"""What a generation request and its result look like inside the gateway."""

from __future__ import annotations

import base64
import enum
import math
from dataclasses import dataclass, field, replace

from orchestrator_server.domain.caller import ANONYMOUS, Caller
from orchestrator_server.domain.capabilities import NO_FEATURES, Feature
from orchestrator_server.domain.tools import (
    AUTO,
    TEXT,
    ResponseFormat,
    ResponseFormatType,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolChoiceMode,
    ToolDefinition,
)


class Role(enum.Enum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class FinishReason(enum.Enum):
    UNSPECIFIED = "unspecified"
    STOP = "stop"
    LENGTH = "length"
    CONTENT_FILTER = "content_filter"
    TOOL_CALL = "tool_call"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image: a URL the provider fetches (`url`), or bytes with their media type. A
    `data:` URL from the caller arrives here already decoded into bytes."""

    url: str = ""
    data: bytes = b""
    media_type: str = ""
    detail: str = ""  # "", "auto", "low", "high"

    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        """The image as OpenAI's `image_url.url`: the URL itself, or a base64 data URL."""
        return self.url or f"data:{self.media_type};base64,{self.base64()}"


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


Part = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message. `content` is always the message's whole text (its text parts joined), so
    a text-only adapter reads `content` and never looks at `parts`; `parts` keeps the order
    of text and images for adapters that send images. `tool_calls` (assistant) replays calls
    the model made; a TOOL message answers the call `tool_call_id`, whose tool is
    `tool_name` (filled in from the call, for providers that match results by name)."""

    role: Role
    content: str
    parts: tuple[Part, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    tool_name: str = ""

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ImagePart))


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
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: ToolChoice = AUTO
    parallel_tool_calls: bool | None = None  # None: the provider's default
    response_format: ResponseFormat = TEXT

    def with_model(self, model: str | None) -> ChatRequest:
        if model == self.model:
            return self
        return replace(self, model=model)

    @property
    def offers_tools(self) -> bool:
        """Tools are declared and the model may call them."""
        return bool(self.tools) and self.tool_choice.mode is not ToolChoiceMode.NONE

    def required_features(self) -> frozenset[Feature]:
        """What a provider must support to serve this request as asked."""
        replays_tools = any(m.tool_calls or m.role is Role.TOOL for m in self.messages)
        has_images = any(m.parts for m in self.messages)
        if not (self.tools or replays_tools or has_images or self.response_format is not TEXT):
            return NO_FEATURES
        needed: set[Feature] = set()
        if self.tools or replays_tools:
            needed.add(Feature.TOOLS)
        if self.tools and self.tool_choice.forced:
            needed.add(Feature.TOOL_CHOICE)
        if self.offers_tools and self.parallel_tool_calls:
            needed.add(Feature.PARALLEL_TOOLS)
        kind = self.response_format.type
        if kind is ResponseFormatType.JSON_OBJECT:
            needed.add(Feature.JSON_OBJECT)
        elif kind is ResponseFormatType.JSON_SCHEMA:
            needed.add(Feature.JSON_SCHEMA)
        for message in self.messages:
            for image in message.images:
                needed.add(Feature.IMAGE_URLS if image.url else Feature.IMAGES)
        return frozenset(needed)


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
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One piece of a provider stream. `text` is incremental and may be empty (a usage- or
    finish-only chunk). The last chunk usually carries finish_reason and usage."""

    text: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    model: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()  # fragments; the router assembles them


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about four characters per token for English and code).

    Used only where a provider reports no usage; results are flagged as estimated."""
    return math.ceil(len(text) / 4) if text else 0


def estimate_usage(messages: tuple[ChatMessage, ...], completion: str) -> Usage:
    prompt = sum(estimate_tokens(m.content) + 4 for m in messages)  # ~4 tokens of role framing
    return Usage.of(prompt, estimate_tokens(completion), estimated=True)
