"""Turns a Generate/GenerateStream request into domain objects, or names every bad field.

Works on both request messages: GenerateStreamRequest has exactly GenerateRequest's fields.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, TypeAlias

from orchestrator.v1 import common_pb2, embed_pb2, generate_pb2
from orchestrator_server.api.messages import MessageReader
from orchestrator_server.api.tools import response_format_of, tool_choice_of, tools_of
from orchestrator_server.config.models import LimitsConfig, StrategyName
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.chat import (
    NO_META,
    ChatMessage,
    ChatRequest,
    GenerationParams,
    RequestMeta,
    Role,
)
from orchestrator_server.domain.errors import FieldViolation, InvalidRequest
from orchestrator_server.routing.types import RouteOptions

AnyGenerateRequest: TypeAlias = generate_pb2.GenerateRequest | generate_pb2.GenerateStreamRequest
# Requests with the routing fields (model, provider, routing, metadata).
RoutedRequest: TypeAlias = AnyGenerateRequest | embed_pb2.EmbedRequest

_STRATEGIES: dict[common_pb2.RoutingStrategy, StrategyName] = {
    common_pb2.ROUTING_STRATEGY_ROUND_ROBIN: "round-robin",
    common_pb2.ROUTING_STRATEGY_RANDOM: "random",
    common_pb2.ROUTING_STRATEGY_FIRST_AVAILABLE: "first-available",
    common_pb2.ROUTING_STRATEGY_BEST_AVAILABLE: "best-available",
    common_pb2.ROUTING_STRATEGY_WEIGHTED: "weighted",
    common_pb2.ROUTING_STRATEGY_LOWEST_LATENCY: "lowest-latency",
    common_pb2.ROUTING_STRATEGY_CHEAPEST: "cheapest",
}
STRATEGY_ENUM: dict[StrategyName, common_pb2.RoutingStrategy] = {
    name: num for num, name in _STRATEGIES.items()
}

MAX_NAME_CHARS = 256
MAX_STOP_CHARS = 256
MAX_TAGS = 32


def to_domain(
    request: AnyGenerateRequest, limits: LimitsConfig, request_id: str, caller: Caller
) -> tuple[ChatRequest, RouteOptions]:
    """`caller` is who the request is attributed to (see RequestMeta)."""
    problems: list[FieldViolation] = []
    messages, plain = _messages(request, limits, problems)
    params = _params(request.params, limits, problems) if request.HasField("params") else None
    route = route_of(request, problems)
    meta = meta_of(request, caller, problems)
    extras = _tool_fields(request, problems) if _asks_for_more(request) else None
    if problems:
        raise InvalidRequest(problems)
    chat = ChatRequest(
        messages, params or GenerationParams(), None, request_id, meta, **(extras or {})
    )
    if extras is None and plain:  # text chat: the common case stays as cheap as before
        return chat, route
    features = chat.required_features()
    return chat, (replace(route, features=features) if features else route)


def _asks_for_more(request: AnyGenerateRequest) -> bool:
    return bool(request.tools) or any(map(request.HasField, _EXTRA_FIELDS))


_EXTRA_FIELDS = ("tool_choice", "parallel_tool_calls", "response_format")


def _tool_fields(request: AnyGenerateRequest, problems: list[FieldViolation]) -> dict[str, Any]:
    tools = tools_of(request, problems)
    return {
        "tools": tools,
        "tool_choice": tool_choice_of(request, tools, problems),
        "parallel_tool_calls": (
            request.parallel_tool_calls if request.HasField("parallel_tool_calls") else None
        ),
        "response_format": response_format_of(request, problems),
    }


def _messages(
    request: AnyGenerateRequest, limits: LimitsConfig, problems: list[FieldViolation]
) -> tuple[tuple[ChatMessage, ...], bool]:
    """The messages, and whether they are plain text (no parts, tool calls or results)."""
    if request.prompt and request.messages:
        problems.append(FieldViolation("prompt", "must be empty when messages is set"))
        return (), True
    if request.prompt:
        if not request.prompt.strip():
            problems.append(FieldViolation("prompt", "must not be blank"))
        elif len(request.prompt) > limits.max_input_chars:
            problems.append(_too_long("prompt", len(request.prompt), limits.max_input_chars))
        return (ChatMessage(Role.USER, request.prompt),), True
    if not request.messages:
        problems.append(FieldViolation("messages", "give messages or prompt"))
        return (), True
    if len(request.messages) > limits.max_messages:
        problems.append(
            FieldViolation(
                "messages", f"{len(request.messages)} messages; the limit is {limits.max_messages}"
            )
        )
        return (), True
    reader = MessageReader(limits, problems)
    out = reader.read(request.messages)
    if reader.chars > limits.max_input_chars:
        problems.append(_too_long("messages", reader.chars, limits.max_input_chars))
    if out and not any(m.role is Role.USER for m in out):
        problems.append(FieldViolation("messages", "needs at least one ROLE_USER message"))
    return out, reader.plain


def _params(
    params: generate_pb2.GenerationParams, limits: LimitsConfig, problems: list[FieldViolation]
) -> GenerationParams:
    def number(name: str, low: float, high: float, *, low_open: bool = False) -> float | None:
        if not params.HasField(name):
            return None
        value = float(getattr(params, name))
        below = value <= low if low_open else value < low
        if not math.isfinite(value) or below or value > high:
            bracket = "(" if low_open else "["
            problems.append(
                FieldViolation(f"params.{name}", f"must be in {bracket}{low:g}, {high:g}]")
            )
            return None
        return value

    temperature = number("temperature", 0.0, 2.0)
    top_p = number("top_p", 0.0, 1.0, low_open=True)
    penalty = number("repetition_penalty", 0.0, 10.0, low_open=True)
    max_tokens = None
    if params.HasField("max_tokens"):
        if not 1 <= params.max_tokens <= limits.max_output_tokens:
            problems.append(
                FieldViolation("params.max_tokens", f"must be in [1, {limits.max_output_tokens}]")
            )
        else:
            max_tokens = params.max_tokens
    if len(params.stop) > limits.max_stop_sequences:
        problems.append(
            FieldViolation("params.stop", f"at most {limits.max_stop_sequences} stop sequences")
        )
    for i, stop in enumerate(params.stop):
        if not stop or len(stop) > MAX_STOP_CHARS:
            problems.append(
                FieldViolation(f"params.stop[{i}]", f"must be 1 to {MAX_STOP_CHARS} characters")
            )
    return GenerationParams(
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        stop=tuple(params.stop),
        repetition_penalty=penalty,
        seed=params.seed if params.HasField("seed") else None,
    )


def route_of(request: RoutedRequest, problems: list[FieldViolation]) -> RouteOptions:
    for name in ("model", "provider"):
        value: str = getattr(request, name)
        if len(value) > MAX_NAME_CHARS or (value and (value != value.strip() or not value.strip())):
            problems.append(
                FieldViolation(
                    name, f"must be at most {MAX_NAME_CHARS} characters, no spaces around"
                )
            )
    strategy: StrategyName | None = None
    if request.HasField("routing"):
        number = request.routing.strategy
        if number != common_pb2.ROUTING_STRATEGY_UNSPECIFIED:
            strategy = _STRATEGIES.get(number)
            if strategy is None:
                problems.append(FieldViolation("routing.strategy", f"unknown strategy {number}"))
    return RouteOptions(
        model=request.model,
        provider=request.provider,
        allow_fallback=not request.routing.disable_fallback,
        strategy=strategy,
    )


def meta_of(request: RoutedRequest, caller: Caller, problems: list[FieldViolation]) -> RequestMeta:
    """An authenticated key's id and tenant, whatever the request says; without auth, what
    the caller declared."""
    if not request.HasField("metadata"):
        if not caller.key_id:
            return NO_META
        return RequestMeta(tenant=caller.tenant, key_id=caller.key_id, caller=caller)
    meta = request.metadata
    for name in ("tenant", "user"):
        if len(getattr(meta, name)) > MAX_NAME_CHARS:
            problems.append(
                FieldViolation(f"metadata.{name}", f"must be at most {MAX_NAME_CHARS} characters")
            )
    if len(meta.tags) > MAX_TAGS:
        problems.append(FieldViolation("metadata.tags", f"at most {MAX_TAGS} tags"))
    tenant = caller.tenant if caller.authenticated else meta.tenant
    return RequestMeta(tenant, meta.user, tuple(meta.tags), caller.key_id, caller)


def _too_long(field: str, size: int, limit: int) -> FieldViolation:
    return FieldViolation(field, f"input is {size} characters; the limit is {limit}")
