"""Tool-call plumbing that adapters of object-argument providers share (Anthropic, Gemini,
GigaChat, YandexGPT): their calls arrive as objects and whole (or per block), results go
back grouped, in call order, and some match them by name and position instead of by id."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator_server.domain.chat import ChatMessage, Role
from orchestrator_server.domain.tools import ToolCall, ToolCallDelta


def integral_numbers(value: Any) -> Any:
    """`5.0` as `5`, throughout: Gemini and YandexGPT send integer arguments as floats,
    which a caller's `"type": "integer"` check (or code doing `range(n)`) would refuse."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: integral_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral_numbers(v) for v in value]
    return value


def result_object(content: str) -> dict[str, Any]:
    """A tool result as the JSON object Gemini (`functionResponse.response`) and GigaChat
    (a function message's content) require: the content itself when it is a JSON object,
    else `{"result": value}` (the official Gemini SDK's wrapping) with the JSON value, or
    the text when it is not JSON."""
    try:
        value: Any = json.loads(content)
    except ValueError:
        value = content
    return value if isinstance(value, dict) else {"result": value}


@dataclass(frozen=True, slots=True)
class ToolResults:
    """Consecutive TOOL messages, in the order of the calls they answer (providers that
    match results by position need that order; others do not mind it)."""

    results: tuple[ChatMessage, ...]


def grouped(messages: Iterable[ChatMessage]) -> list[ChatMessage | ToolResults]:
    """The messages with each run of TOOL messages gathered into one ToolResults, sorted by
    the position of their call in the latest assistant message that made calls (results
    for unknown ids keep their order, after the others)."""
    out: list[ChatMessage | ToolResults] = []
    order: dict[str, int] = {}
    run: list[ChatMessage] = []
    for message in messages:
        if message.role is Role.TOOL:
            run.append(message)
            continue
        if run:
            out.append(_in_call_order(run, order))
            run = []
        if message.tool_calls:
            order = {call.id: i for i, call in enumerate(message.tool_calls)}
        out.append(message)
    if run:
        out.append(_in_call_order(run, order))
    return out


def _in_call_order(run: list[ChatMessage], order: Mapping[str, int]) -> ToolResults:
    last = len(order)
    return ToolResults(tuple(sorted(run, key=lambda m: order.get(m.tool_call_id, last))))


class WholeCalls:
    """Numbers whole calls across the chunks of one stream (fragment `index` 0, 1, ...),
    and keeps only the first when the caller asked for one call and the provider has no
    switch for that."""

    __slots__ = ("_limit", "count")

    def __init__(self, *, single: bool = False) -> None:
        self._limit = 1 if single else None
        self.count = 0

    def fragments(self, calls: Iterable[ToolCall]) -> tuple[ToolCallDelta, ...]:
        out: list[ToolCallDelta] = []
        for call in calls:
            if self._limit is not None and self.count >= self._limit:
                break
            out.append(ToolCallDelta(self.count, call.id, call.name, call.arguments))
            self.count += 1
        return tuple(out)
