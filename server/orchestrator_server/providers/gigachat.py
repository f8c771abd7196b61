"""GigaChat (Sber) chat completions over its v1 REST API, with OAuth2 access tokens.

Parameters: temperature, top_p, max_tokens and repetition_penalty are sent. GigaChat has no
`stop` field, so stop sequences are applied here: the text is cut before the first one and
the finish reason is STOP (a stream stops reading there, and its usage is then estimated).
`seed` has no GigaChat equivalent and is ignored.

Functions, structured output and image attachments are mapped in gigachat_wire.py. Images
are uploaded before the call and deleted after it, in the background (a failed deletion is
logged, never the caller's error).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import aiohttp

from orchestrator_server.config.providers import GigaChatProviderConfig
from orchestrator_server.domain.chat import (
    ChatRequest,
    Completion,
    FinishReason,
    ImagePart,
    StreamChunk,
    estimate_usage,
)
from orchestrator_server.domain.embeddings import EmbeddingRequest, Embeddings
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.domain.tools import ToolCallDelta
from orchestrator_server.providers import gigachat_wire as wire
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.providers.gigachat_auth import TokenManager
from orchestrator_server.providers.http.adapter import HttpAdapter
from orchestrator_server.providers.http.client import HttpReply
from orchestrator_server.providers.http.embeddings import indexed_data, prompt_usage, summed
from orchestrator_server.providers.http.errors import (
    DEFAULT_STATUS_KINDS,
    error_body,
    http_error,
    kind_for_status,
    message_of,
    retry_after,
)
from orchestrator_server.providers.http.params import wire_params
from orchestrator_server.providers.http.streams import read_sse, sse_json
from orchestrator_server.providers.listing import ids_of
from orchestrator_server.providers.openai import openai_usage
from orchestrator_server.providers.tool_wire import WholeCalls

log = logging.getLogger(__name__)

FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "function_call": FinishReason.TOOL_CALL,
    "blacklist": FinishReason.CONTENT_FILTER,  # the topic filter
    "error": FinishReason.OTHER,  # invalid function-call arguments
}
# The API host follows the usual meanings; 401 only reaches this table after the one
# refresh-and-retry has failed too.
STATUS_KINDS: Mapping[int, ErrorKind] = DEFAULT_STATUS_KINDS
# temperature must be > 0; values up to 0.001 are GigaChat's deterministic mode.
MIN_TEMPERATURE = 0.001
DELETE_TIMEOUT = 10.0  # seconds for deleting an uploaded image after the call


# No stop field (stop sequences are applied here) and no seed.
PARAM_NAMES = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
    "repetition_penalty": "repetition_penalty",
}


class GigaChatProvider(HttpAdapter):
    def __init__(
        self,
        spec: ProviderSpec,
        config: GigaChatProviderConfig,
        api_key: str | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            spec, config, default_base_url="https://gigachat.devices.sberbank.ru/api/v1"
        )
        self._chat_url = f"{self.base_url}/chat/completions"
        self._models_url = f"{self.base_url}/models"
        self._files_url = f"{self.base_url}/files"
        self._deleting: set[asyncio.Task[None]] = set()
        self.tokens = TokenManager(
            self.client,
            auth_url=config.auth_url,
            key=api_key,
            scope=config.scope.value,
            margin=config.token_refresh_margin,
            clock=clock,
        )

    def body(
        self, request: ChatRequest, *, stream: bool, attachments: Mapping[int, str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or self.spec.model,
            "messages": wire.messages(request, attachments or {}),
        }
        body.update(wire_params(request.params, PARAM_NAMES))
        if "temperature" in body:
            body["temperature"] = max(body["temperature"], MIN_TEMPERATURE)
        body.update(wire.function_fields(request))
        response_format = wire.response_format(request)
        if response_format is not None:
            body["response_format"] = response_format
        if stream:
            body["stream"] = True
        return body

    async def generate(self, request: ChatRequest, *, timeout: float) -> Completion:
        attachments = await self._attachments(request, timeout)
        try:
            body = self.body(request, stream=False, attachments=attachments)
            reply = await self._call("POST", self._chat_url, body, timeout)
        finally:
            self._forget(attachments.values())
        data = reply.json()
        try:
            choice = data["choices"][0]
            message = choice["message"]
            text = message.get("content") or ""
            finish = FINISH_REASONS.get(choice.get("finish_reason") or "", FinishReason.OTHER)
            model = str(data.get("model") or request.model or self.spec.model)
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(
                ErrorKind.MALFORMED_RESPONSE, "upstream reply has no choices[0].message"
            ) from None
        call = wire.reply_call(message)
        cut = stop_index(text, request.params.stop)
        if cut is not None:
            text, finish = text[:cut], FinishReason.STOP
        if call is not None:
            finish = FinishReason.TOOL_CALL
        usage = openai_usage(data.get("usage")) or estimate_usage(request.messages, text)
        return Completion(
            text=text,
            model=model,
            usage=usage,
            finish_reason=finish,
            tool_calls=(call,) if call is not None else (),
        )

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        attachments = await self._attachments(request, timeout)
        try:
            async with aclosing(self._stream(request, attachments, timeout)) as chunks:
                async for chunk in chunks:
                    yield chunk
        finally:
            self._forget(attachments.values())

    async def _stream(
        self, request: ChatRequest, attachments: Mapping[int, str], timeout: float
    ) -> AsyncGenerator[StreamChunk, None]:
        body = self.body(request, stream=True, attachments=attachments)
        for attempt in range(2):
            token = await self.tokens.token(timeout=timeout)
            async with self.client.stream(
                "POST",
                self._chat_url,
                json_body=body,
                headers=_headers(token, "text/event-stream"),
                timeout=timeout,
            ) as response:
                if response.status == 401 and attempt == 0:
                    await self.client.read_body(response)  # the connection goes back to the pool
                    self.tokens.invalidate(token)
                    continue
                if response.status != 200:
                    raise self.error(
                        response.status,
                        response.headers,
                        error_body(await self.client.read_body(response)),
                    )
                async with aclosing(_chunks(response, request.params.stop)) as chunks:
                    async for chunk in chunks:
                        yield chunk
                return

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> Embeddings:
        """`POST /embeddings`, OpenAI's shape; usage comes per item, not in total. No
        `dimensions`: the vector size is the model's (1024 for Embeddings)."""
        model = request.model or self.spec.embedding_model or ""
        body = {"model": model, "input": list(request.inputs)}
        data = (await self._call("POST", f"{self.base_url}/embeddings", body, timeout)).json()
        vectors = indexed_data(data, len(request.inputs))
        items = data.get("data") if isinstance(data, dict) else None
        counts = [
            (item.get("usage") or {}).get("prompt_tokens") if isinstance(item, dict) else None
            for item in items or ()
        ]
        reported = summed(counts)
        return Embeddings(
            vectors=vectors,
            model=str(data.get("model") or model),
            usage=prompt_usage(reported, request.inputs),
        )

    async def check_health(self) -> None:
        await self._call("GET", self._models_url, None, 10.0)

    async def list_models(self, *, timeout: float) -> list[str]:
        data = (await self._call("GET", self._models_url, None, timeout)).json()
        return ids_of(
            data.get("data") if isinstance(data, dict) else None,
            keep=lambda item: item.get("type", "chat") == "chat",
        )

    async def _attachments(self, request: ChatRequest, timeout: float) -> dict[int, str]:
        """The request's images uploaded (each distinct one once): file ids by message."""
        images = wire.images_to_upload(request)
        if not images:
            return {}
        distinct = {hashlib.sha256(i.data).digest(): i for i in images.values()}
        results = await asyncio.gather(
            *(self._upload(image, timeout) for image in distinct.values()),
            return_exceptions=True,
        )
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            self._forget(r for r in results if isinstance(r, str))
            raise failed
        ids = dict(zip(distinct, results, strict=True))
        return {i: str(ids[hashlib.sha256(image.data).digest()]) for i, image in images.items()}

    async def _upload(self, image: ImagePart, timeout: float) -> str:
        """`POST /files`, multipart, purpose "general"; the reply's `id` names the file."""
        name = "image.png" if image.media_type == "image/png" else "image.jpg"

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("file", image.data, filename=name, content_type=image.media_type)
            data.add_field("purpose", "general")
            return data

        data = (await self._call("POST", self._files_url, None, timeout, form=form)).json()
        file_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(file_id, str) or not file_id:
            raise ProviderError(ErrorKind.MALFORMED_RESPONSE, "file upload reply has no id")
        return file_id

    def _forget(self, file_ids: Iterable[str]) -> None:
        """Deletes uploaded files in the background: the answer does not wait for it."""
        for file_id in file_ids:
            task = asyncio.create_task(self._delete(file_id))
            self._deleting.add(task)
            task.add_done_callback(self._deleting.discard)

    async def _delete(self, file_id: str) -> None:
        try:
            await self._call("POST", f"{self._files_url}/{file_id}/delete", None, DELETE_TIMEOUT)
        except ProviderError as exc:
            log.warning("provider %s: an uploaded image was not deleted: %s", self.spec.name, exc)

    async def aclose(self) -> None:
        if self._deleting:
            await asyncio.wait(self._deleting, timeout=DELETE_TIMEOUT)
        await super().aclose()

    async def _call(
        self,
        method: str,
        url: str,
        body: Any,
        timeout: float,
        *,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> HttpReply:
        """One API call with a current token; a 401 (the token expired or was revoked early)
        drops the token and retries once with a fresh one. A multipart body is built anew
        for each try (`form`)."""
        for attempt in range(2):
            token = await self.tokens.token(timeout=timeout)
            reply = await self.client.request(
                method,
                url,
                json_body=body,
                data=form() if form is not None else None,
                headers=_headers(token),
                timeout=timeout,
            )
            if reply.status != 401 or attempt:
                break
            self.tokens.invalidate(token)
        if reply.status != 200:
            raise self.error(reply.status, reply.headers, error_body(reply.body))
        return reply

    @staticmethod
    def error(status: int | None, headers: Mapping[str, str], body: Any) -> ProviderError:
        """The API host's error table: `{"status": N, "message": ...}` bodies. In a 200
        stream (status None) the frame's own `status`, if any, classifies it."""
        if status is None:
            inner = body.get("status") if isinstance(body, dict) else None
            kind = (
                kind_for_status(inner, STATUS_KINDS)
                if isinstance(inner, int) and not isinstance(inner, bool)
                else ErrorKind.UNAVAILABLE
            )
        else:
            kind = kind_for_status(status, STATUS_KINDS)
        return http_error(kind, status, message_of(body), retry_after_s=retry_after(headers))


def _headers(token: str, accept: str = "application/json") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": accept}


async def _chunks(
    response: aiohttp.ClientResponse, stops: tuple[str, ...]
) -> AsyncGenerator[StreamChunk, None]:
    if not response.headers.get("Content-Type", "").startswith("text/event-stream"):
        raise ProviderError(
            ErrorKind.MALFORMED_RESPONSE, "upstream answered the stream with a non-SSE body"
        )
    # The end marker is [DONE] or a finish_reason; a body that ends with neither was cut
    # (the router's rule for every adapter).
    cutter = StopCutter(stops)
    calls = WholeCalls()
    finished = done = False
    async for event in read_sse(response.content):
        if event.data.strip() == "[DONE]":
            done = True
            break
        data = sse_json(event)
        if not isinstance(data, dict):
            continue
        chunk = parse_chunk(data, calls)
        if calls.count and chunk.finish_reason is FinishReason.STOP:
            chunk = replace(chunk, finish_reason=FinishReason.TOOL_CALL)
        text, stopped = cutter.feed(chunk.text)
        if stopped:
            yield StreamChunk(text=text, finish_reason=FinishReason.STOP, model=chunk.model)
            return  # leaving closes the upstream: the caller asked for nothing past here
        if chunk.finish_reason is not None:
            finished = True
            text += cutter.flush()
        yield replace(chunk, text=text)
    unmarked = done and not finished  # [DONE] without a finish_reason: why is unknown
    rest = cutter.flush()
    if rest or unmarked:
        finish = None
        if unmarked:
            finish = FinishReason.TOOL_CALL if calls.count else FinishReason.UNSPECIFIED
        yield StreamChunk(text=rest, finish_reason=finish)


def parse_chunk(data: dict[str, Any], calls: WholeCalls | None = None) -> StreamChunk:
    """One stream event. An error object (`{"error": ...}`, or the API's own
    `{"status", "message"}` without choices; the in-stream form is undocumented) raises. A
    function call comes whole in one delta (the SDK's chunk type; UNVERIFIED on the wire)."""
    if "error" in data or ("choices" not in data and "status" in data):
        raise GigaChatProvider.error(None, {}, data)
    choices = data.get("choices") or []
    text = ""
    finish = None
    fragments: tuple[ToolCallDelta, ...] = ()
    if choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta") or {}
        text = (delta.get("content") or "") if isinstance(delta, dict) else ""
        call = wire.reply_call(delta, choices[0].get("functions_state_id"))
        if call is not None:
            fragments = (calls or WholeCalls()).fragments((call,))
        reason = choices[0].get("finish_reason")
        if reason:
            finish = FINISH_REASONS.get(reason, FinishReason.OTHER)
    model = data.get("model")
    return StreamChunk(
        text=text,
        finish_reason=finish,
        usage=openai_usage(data.get("usage")),
        model=model if isinstance(model, str) else None,
        tool_calls=fragments,
    )


def stop_index(text: str, stops: tuple[str, ...]) -> int | None:
    """Where the first stop sequence in `text` begins, or None."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


class StopCutter:
    """Applies stop sequences to incremental text: holds back a tail that could be the start
    of a stop sequence until the next piece shows whether it is one."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = stops
        self._longest = max((len(s) for s in stops), default=0)
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to emit, whether a stop sequence was reached)."""
        if not self._stops:
            return text, False
        buffer = self._held + text
        cut = stop_index(buffer, self._stops)
        if cut is not None:
            self._held = ""
            return buffer[:cut], True
        keep = self._held_length(buffer)
        self._held = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held

    def _held_length(self, buffer: str) -> int:
        for n in range(min(len(buffer), self._longest - 1), 0, -1):
            tail = buffer[-n:]
            if any(s.startswith(tail) for s in self._stops):
                return n
        return 0
