"""Reading YandexGPT replies (wire-format reference §2.5, §2.6): the `result` envelope, usage
counts sent as strings, alternative statuses, and the stream's cumulative text as deltas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator_server.domain.chat import FinishReason, Usage
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.tools import ToolCall
from orchestrator_server.providers.yandexgpt_wire import reply_calls

_STATUS_PREFIX = "ALTERNATIVE_STATUS_"
PARTIAL = "PARTIAL"
FINISH_REASONS = {
    "FINAL": FinishReason.STOP,
    "TRUNCATED_FINAL": FinishReason.LENGTH,
    "CONTENT_FILTER": FinishReason.CONTENT_FILTER,
    "TOOL_CALLS": FinishReason.TOOL_CALL,
    "UNSPECIFIED": FinishReason.UNSPECIFIED,
}


@dataclass(frozen=True, slots=True)
class Alternative:
    """The first alternative of one reply or stream line."""

    text: str
    status: str  # without the ALTERNATIVE_STATUS_ prefix
    usage: Usage | None
    calls: tuple[ToolCall, ...] = ()  # a message holds text or calls, never both

    @property
    def final(self) -> bool:
        """Streams have no sentinel: every status but PARTIAL ends them."""
        return self.status != PARTIAL

    @property
    def finish_reason(self) -> FinishReason:
        if self.calls:  # the calls decide, whatever the status says
            return FinishReason.TOOL_CALL
        return FINISH_REASONS.get(self.status, FinishReason.OTHER)


def parse_alternative(data: Any) -> Alternative:
    """`{"result": {"alternatives": [...], "usage": {...}}}`. The API reference page shows the
    inner object without the wrapper, so a bare one is accepted too."""
    result: Any = data.get("result", data) if isinstance(data, dict) else None
    try:
        first = result["alternatives"][0]
        message = first.get("message") or {}
        # A tool-call message has toolCallList instead of text.
        text = message.get("text") or ""
        status = first.get("status") or "UNSPECIFIED"
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ProviderError(
            ErrorKind.MALFORMED_RESPONSE, "upstream reply has no result.alternatives[0]"
        ) from None
    if not isinstance(text, str) or not isinstance(status, str):
        raise ProviderError(
            ErrorKind.MALFORMED_RESPONSE, "upstream alternative has a non-string text or status"
        )
    usage = parse_usage(result.get("usage"))
    return Alternative(text, status.removeprefix(_STATUS_PREFIX), usage, reply_calls(message))


def parse_usage(raw: Any) -> Usage | None:
    """Counts are int64, which proto-JSON renders as strings ("28"); plain numbers pass too."""
    if not isinstance(raw, dict):
        return None
    try:
        prompt = int(raw.get("inputTextTokens") or 0)
        completion = int(raw.get("completionTokens") or 0)
        total = int(raw.get("totalTokens") or prompt + completion)
    except (TypeError, ValueError):
        return None
    return Usage(prompt, completion, total)


class CumulativeText:
    """Turns the stream's cumulative texts (each line repeats everything so far) into deltas.

    The delta is whatever lies beyond the text the client already holds. An update that does
    not extend the previous one (the model revised earlier text, or the upstream dropped a
    trailing character) cannot be taken back from the client, so only its characters past
    the client's length are sent: nothing is ever duplicated, the revised span keeps the
    version first sent, and later updates continue from there. A shorter update sends
    nothing until the text grows past what the client holds.
    """

    def __init__(self) -> None:
        self._sent = 0  # characters the client holds
        self._last = ""  # the upstream's latest cumulative text
        self.revisions = 0

    def delta(self, text: str) -> str:
        if not text.startswith(self._last):
            self.revisions += 1
        self._last = text
        piece = text[self._sent :]
        self._sent += len(piece)
        return piece
