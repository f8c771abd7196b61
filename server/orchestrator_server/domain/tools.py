"""Tool calling and structured output inside the gateway: what a caller declares (tools, the
choice among them, the reply's format) and what a model answers (calls), in one shape every
adapter maps to and from its provider's wire format."""

from __future__ import annotations

import enum
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

JsonObject = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A function the model may call. `parameters` is the JSON Schema of its arguments (an
    object schema); empty for a function without arguments."""

    name: str
    description: str = ""
    parameters: JsonObject = field(default_factory=dict)
    strict: bool = False

    def parameters_or_empty(self) -> dict[str, Any]:
        """The schema to send to providers that require one (an empty object schema)."""
        return dict(self.parameters) if self.parameters else {"type": "object", "properties": {}}


class ToolChoiceMode(enum.Enum):
    AUTO = "auto"
    NONE = "none"
    REQUIRED = "required"  # at least one call
    TOOL = "tool"  # exactly the named tool


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: ToolChoiceMode = ToolChoiceMode.AUTO
    name: str = ""  # with ToolChoiceMode.TOOL

    @property
    def forced(self) -> bool:
        """The model must call a tool: the provider must be able to force one."""
        return self.mode in (ToolChoiceMode.REQUIRED, ToolChoiceMode.TOOL)


AUTO = ToolChoice()


class ResponseFormatType(enum.Enum):
    TEXT = "text"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    type: ResponseFormatType = ResponseFormatType.TEXT
    name: str = ""  # json_schema only
    description: str = ""
    schema: JsonObject = field(default_factory=dict)
    strict: bool = False


TEXT = ResponseFormat()


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model made. `arguments` is the JSON text as the model produced it: it may
    be invalid, so consumers use `parsed()`, which is None unless it is a JSON object."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed(self) -> dict[str, Any] | None:
        return parse_arguments(self.arguments)


def parse_arguments(text: str) -> dict[str, Any] | None:
    if not text.strip():
        return {}  # a call without arguments (Anthropic streams "" for `{}`)
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def arguments_text(arguments: Any) -> str:
    """Arguments a provider sent as an object (Anthropic, Gemini, Ollama, ...) as JSON text."""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)


def new_call_id() -> str:
    """An id for a call whose provider gives none (Gemini, GigaChat, YandexGPT, old Ollama),
    so ROLE_TOOL results can name it."""
    return "call_" + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a streamed call. Fragments with one `index` belong to one call; `id` and
    `name` come once, `arguments` pieces concatenate. Providers that stream whole calls send
    one fragment per call with everything in it."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(slots=True)
class _Pending:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Builds calls from stream fragments, keyed by index (never by arrival order: OpenAI
    interleaves parallel calls in principle). Only non-empty ids and names are taken, because
    OpenAI-compatible servers repeat `"id": ""` in continuation fragments."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, _Pending] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, fragments: Iterable[ToolCallDelta]) -> None:
        for fragment in fragments:
            pending = self._calls.get(fragment.index)
            if pending is None:
                pending = self._calls[fragment.index] = _Pending()
            if fragment.id and not pending.id:
                pending.id = fragment.id
            if fragment.name and not pending.name:
                pending.name = fragment.name
            if fragment.arguments:
                pending.arguments.append(fragment.arguments)

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(p.id or new_call_id(), p.name, "".join(p.arguments) or "{}")
            for _, p in sorted(self._calls.items())
        )

    def text(self) -> str:
        """Everything the calls said, for usage estimates."""
        return "".join(p.name + "".join(p.arguments) for p in self._calls.values())
