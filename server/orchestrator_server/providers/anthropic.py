"""Anthropic Messages API (wire-format reference §5); tools, structured output and images
are mapped in anthropic_wire.py. Anthropic has no embeddings endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from orchestrator_server.config.providers import AnthropicProviderConfig
from orchestrator_server.domain.chat import (
    ChatMessage,
    ChatRequest,
    Completion,
    FinishReason,
    Role,
    StreamChunk,
    Usage,
    estimate_usage,
)
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.tools import ToolCallDelta, arguments_text
from orchestrator_server.providers import anthropic_wire as wire
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.providers.http.adapter import HttpAdapter
from orchestrator_server.providers.http.errors import (
    DEFAULT_STATUS_KINDS,
    http_error,
    kind_for_status,
    message_of,
    retry_after,
)
from orchestrator_server.providers.http.params import wire_params
from orchestrator_server.providers.http.streams import read_sse, sse_json
from orchestrator_server.providers.listing import MAX_PAGES, ids_of

FINISH_REASONS = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALL,
    "refusal": FinishReason.CONTENT_FILTER,
}
# 529 is Anthropic's "overloaded": a passing state, worth a retry like any 5xx.
STATUS_KINDS: Mapping[int, ErrorKind] = {**DEFAULT_STATUS_KINDS, 529: ErrorKind.UNAVAILABLE}
# An in-stream `error` event has no status; its error.type is the only classification.
TYPE_KINDS: Mapping[str, ErrorKind] = {
    "invalid_request_error": ErrorKind.INVALID_REQUEST,
    "request_too_large": ErrorKind.INVALID_REQUEST,
    "authentication_error": ErrorKind.AUTH,
    "permission_error": ErrorKind.PERMISSION,
    "billing_error": ErrorKind.QUOTA,
    "not_found_error": ErrorKind.NOT_FOUND,
    "rate_limit_error": ErrorKind.RATE_LIMITED,
    "api_error": ErrorKind.UNAVAILABLE,
    "overloaded_error": ErrorKind.UNAVAILABLE,
    "timeout_error": ErrorKind.TIMEOUT,
}
# Anthropic reports an empty prepaid balance as a 400 invalid_request_error (seen in many
# public reports, e.g. anthropics/claude-code#4684). Left as INVALID_REQUEST it would stop
# the router from falling back, for every caller, until someone buys credits.
_NO_CREDIT = "credit balance is too low"
# The API rejects a conversation that opens with an assistant turn; a minimal user turn in
# front keeps OpenAI-style histories working (the usual fix in client libraries).
OPENING_USER_TURN = "."


# max_tokens is required and set apart; seed and repetition_penalty have no equivalent.
PARAM_NAMES = {"temperature": "temperature", "top_p": "top_p", "stop": "stop_sequences"}


class AnthropicProvider(HttpAdapter):
    def __init__(
        self, spec: ProviderSpec, config: AnthropicProviderConfig, api_key: str | None
    ) -> None:
        super().__init__(spec, config, default_base_url="https://api.anthropic.com")
        self._messages_url = f"{self.base_url}/v1/messages"
        self._models_url = f"{self.base_url}/v1/models"
        self._default_max_tokens = config.default_max_tokens
        headers = {"anthropic-version": config.anthropic_version}
        if api_key:
            headers["x-api-key"] = api_key
        self._headers = headers
        self._post_headers = {**headers, "content-type": "application/json"}

    def body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        system, messages = conversation(request.messages)
        params = request.params
        body: dict[str, Any] = {
            "model": request.model or self.spec.model,
            "max_tokens": params.max_tokens or self._default_max_tokens,
            "messages": messages,
        }
        if system:
            body["system"] = system
        body.update(wire_params(params, PARAM_NAMES))
        body.update(wire.tool_fields(request))
        output = wire.output_config(request)
        if output is not None:
            body["output_config"] = output
        if stream:
            body["stream"] = True
        return body

    async def generate(self, request: ChatRequest, *, timeout: float) -> Completion:
        reply = await self.call(
            "POST",
            self._messages_url,
            json_body=self.body(request, stream=False),
            headers=self._post_headers,
            timeout=timeout,
        )
        data = reply.json()
        if isinstance(data, dict) and data.get("type") == "error":
            raise self.error(None, reply.headers, data)
        try:
            blocks = data["content"]
            if not isinstance(blocks, list):
                raise TypeError
            text = "".join(
                str(b.get("text") or "")
                for b in blocks
                if isinstance(b, dict) and b.get("type") == "text"
            )
            model = str(data.get("model") or request.model or self.spec.model)
        except (KeyError, TypeError):
            raise ProviderError(
                ErrorKind.MALFORMED_RESPONSE, "upstream reply has no content list"
            ) from None
        calls = wire.reply_calls(blocks)
        finish = finish_reason(data.get("stop_reason"))
        if calls and finish is not FinishReason.LENGTH:  # a call cut short stays LENGTH
            finish = FinishReason.TOOL_CALL
        usage = _usage(data.get("usage")) or estimate_usage(request.messages, text)
        return Completion(
            text=text, model=model, usage=usage, finish_reason=finish, tool_calls=calls
        )

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        async with self.open_stream(
            self._messages_url,
            json_body=self.body(request, stream=True),
            headers=self._post_headers,
            timeout=timeout,
        ) as response:
            state = StreamState()
            async for event in read_sse(response.content):
                chunk = state.feed(event.event, sse_json(event))
                if chunk is not None:
                    yield chunk
                if state.done:
                    return

    async def check_health(self) -> None:
        await self.call("GET", self._models_url, headers=self._headers, timeout=10.0)

    async def list_models(self, *, timeout: float) -> list[str]:
        """All pages of /v1/models (newest first), following `last_id` while `has_more`."""
        models: list[str] = []
        params = {"limit": "1000"}
        for _ in range(MAX_PAGES):
            reply = await self.call(
                "GET", self._models_url, headers=self._headers, params=params, timeout=timeout
            )
            data = reply.json()
            if not isinstance(data, dict):
                break
            models += ids_of(data.get("data"))
            last = data.get("last_id")
            if data.get("has_more") is not True or not isinstance(last, str) or not last:
                break
            params = {"limit": "1000", "after_id": last}
        return list(dict.fromkeys(models))

    @staticmethod
    def error(status: int | None, headers: Mapping[str, str], body: Any) -> ProviderError:
        """The Anthropic error table: by status; by error.type for in-stream errors, and
        wherever the type says billing."""
        error = body.get("error") if isinstance(body, dict) else None
        error_type = error.get("type") if isinstance(error, dict) else None
        message = message_of(body)
        if status is None:
            kind = TYPE_KINDS.get(str(error_type), ErrorKind.UNAVAILABLE)
        else:
            kind = kind_for_status(status, STATUS_KINDS)
        if error_type == "billing_error" or (
            kind is ErrorKind.INVALID_REQUEST and _NO_CREDIT in message.lower()
        ):
            kind = ErrorKind.QUOTA
        return http_error(kind, status, message, retry_after_s=retry_after(headers))


class StreamState:
    """Turns Anthropic's named events into chunks: text as it comes, tool calls as
    fragments (a `tool_use` block's start names the call, its `input_json_delta` pieces are
    the arguments), and one last chunk at message_stop with the finish reason and the usage
    gathered on the way. Calls are numbered 0, 1, ... whatever their block index."""

    def __init__(self) -> None:
        self.done = False
        self._counts: dict[str, Any] = {}
        self._finish: FinishReason | None = None
        self._calls: dict[Any, int] = {}  # block index -> call number
        self._inputs: dict[Any, Any] = {}  # block index -> the start's input, until a delta

    def feed(self, name: str, data: Any) -> StreamChunk | None:
        if not isinstance(data, dict):
            return None
        name = name or str(data.get("type") or "")
        if name == "error" or "error" in data:
            raise AnthropicProvider.error(None, {}, data)
        if name == "message_start":
            message = data.get("message")
            if not isinstance(message, dict):
                return None
            self._take_usage(message.get("usage"))
            model = message.get("model")
            return StreamChunk(model=str(model)) if model else None
        if name == "content_block_start":
            return self._block_start(data.get("index"), data.get("content_block"))
        if name == "content_block_delta":
            return self._block_delta(data.get("index"), data.get("delta"))
        if name == "content_block_stop":
            return self._block_stop(data.get("index"))
        if name == "message_delta":
            delta = data.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self._finish = finish_reason(delta["stop_reason"])
            self._take_usage(data.get("usage"))
            return None
        if name == "message_stop":  # the end marker; a stream cut before it is broken
            self.done = True
            finish = self._finish or FinishReason.UNSPECIFIED
            if self._calls and finish is FinishReason.STOP:  # the calls decide
                finish = FinishReason.TOOL_CALL
            return StreamChunk(finish_reason=finish, usage=self.usage)
        return None  # ping, and events added after this was written

    def _block_start(self, index: Any, block: Any) -> StreamChunk | None:
        if not isinstance(block, dict):
            return None
        if block.get("type") == "text" and block.get("text"):
            return StreamChunk(text=str(block["text"]))
        if block.get("type") != "tool_use" or not block.get("name"):
            return None  # thinking, server tools, ...
        number = self._calls[index] = len(self._calls)
        self._inputs[index] = block.get("input")
        start = ToolCallDelta(number, str(block.get("id") or ""), str(block["name"]))
        return StreamChunk(tool_calls=(start,))

    def _block_delta(self, index: Any, delta: Any) -> StreamChunk | None:
        if not isinstance(delta, dict):
            return None
        if delta.get("type") == "text_delta":
            text = delta.get("text")
            return StreamChunk(text=text) if isinstance(text, str) and text else None
        if delta.get("type") == "input_json_delta" and index in self._calls:
            self._inputs.pop(index, None)  # the pieces are the input
            piece = delta.get("partial_json")
            if isinstance(piece, str) and piece:
                return StreamChunk(tool_calls=(ToolCallDelta(self._calls[index], arguments=piece),))
        return None  # thinking, signatures, citations: not text

    def _block_stop(self, index: Any) -> StreamChunk | None:
        # A call whose input came whole in its start (no deltas at all) is sent here.
        given = self._inputs.pop(index, None)
        if index not in self._calls or not isinstance(given, dict) or not given:
            return None
        whole = ToolCallDelta(self._calls[index], arguments=arguments_text(given))
        return StreamChunk(tool_calls=(whole,))

    def _take_usage(self, raw: Any) -> None:
        # Counts in message_delta are running totals: each one replaces, never adds, and
        # only the counts it names (it may restate input_tokens without the cache ones).
        if isinstance(raw, dict):
            self._counts.update((k, v) for k, v in raw.items() if _int(v) is not None)

    @property
    def usage(self) -> Usage | None:
        return _usage(self._counts)  # None: the router estimates from the text


def conversation(messages: tuple[ChatMessage, ...]) -> tuple[str, list[dict[str, Any]]]:
    """The top-level system prompt, and user/assistant turns that start with the user and
    alternate (consecutive turns of one role merged), as the API requires. Tool results
    are user turns."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role is Role.SYSTEM:
            system.append(message.content)
            continue
        role = Role.ASSISTANT.value if message.role is Role.ASSISTANT else Role.USER.value
        content = wire.content(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] = wire.merged(turns[-1]["content"], content)
        else:
            turns.append({"role": role, "content": content})
    if turns and turns[0]["role"] != Role.USER.value:
        turns.insert(0, {"role": Role.USER.value, "content": OPENING_USER_TURN})
    return "\n\n".join(system), turns


def finish_reason(raw: Any) -> FinishReason:
    # pause_turn, model_context_window_exceeded and future reasons: OTHER.
    return FINISH_REASONS.get(str(raw or ""), FinishReason.OTHER)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _prompt_tokens(raw: Mapping[str, Any]) -> int | None:
    # input_tokens leaves out the cached part of the prompt; add it back, as OpenAI's
    # prompt_tokens does, so "prompt tokens" means the same across providers.
    parts = [
        _int(raw.get(key))
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    if parts[0] is None:
        return None
    return sum(p for p in parts if p is not None)


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt = _prompt_tokens(raw)
    output = _int(raw.get("output_tokens"))
    if prompt is None or output is None:
        return None
    return Usage.of(prompt, output)
