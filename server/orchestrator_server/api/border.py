"""The error border: one wrapper around every RPC of the orchestrator's services, so servicer
methods stay straight-line. Services are registered through `ErrorBorder.guard(server)`,
which wraps each of their method handlers once, at registration (no per-call interceptor);
every method of every service added that way, present and future, is covered.

Per call it
- reads the caller's metadata once: its ids and the key it presented, which `auth`
  (api/auth.py) turns into the Caller, or a refusal (`current_call` gives ids and Caller to
  the servicer);
- parses the request itself: bytes protobuf refuses (a string that is not UTF-8, a Struct
  nested past the depth limit, garbage) are INVALID_ARGUMENT with one log line, not grpc's
  UNKNOWN with a traceback;
- turns every exception into the status `errors.map_error` gives it (domain errors by the
  table, anything else INTERNAL), so each RPC answers with ErrorInfo and the request id;
- writes a stream's messages itself, so a cancellation can reach the domain wherever it lands
  (see `_close_cancelled`);
- reports the status it settled to telemetry (RPC duration, gateway overhead, server span):
  a caller's cancellation is CANCELLED there too, never OK.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
from google.protobuf.message import DecodeError

from orchestrator_server.api.auth import Authentication, Check
from orchestrator_server.api.calls import read_call
from orchestrator_server.api.errors import map_error
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.errors import FieldViolation, GatewayError, InvalidRequest
from orchestrator_server.telemetry.metrics import CURRENT_RPC, GatewayMetrics, RpcTiming
from orchestrator_server.telemetry.tracing import ServerSpans

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
_OK = grpc.StatusCode.OK
_CANCELLED = grpc.StatusCode.CANCELLED


@dataclass(frozen=True, slots=True)
class CallIds:
    request_id: str  # the caller's x-request-id, or one generated for this call
    key_id: str  # the caller's x-api-key-id ("" when not sent)
    caller: Caller  # as authenticated (without `auth`: anonymous, with the declared key id)


_CALL: ContextVar[CallIds | None] = ContextVar("orchestrator_call_ids", default=None)


def current_call(context: Context) -> CallIds:
    """The ids and caller of the call being served, as the border read them (the same
    generated request id in the reply, the logs and any error)."""
    ids = _CALL.get()
    if ids is None:  # a servicer driven without the border (a test, an embedding)
        request_id, key_id, _ = read_call(context)
        ids = CallIds(request_id, key_id, Caller.anonymous(key_id))
    return ids


class UndecodableRequest(InvalidRequest):
    """Request bytes protobuf refuses: the caller's fault, answered like any bad field."""


class Undecodable:
    """What the request deserializer gives for bytes that do not parse: the handler answers
    it with INVALID_ARGUMENT instead of grpc logging a traceback and answering UNKNOWN."""

    __slots__ = ("message_type", "reason")

    def __init__(self, message_type: str, reason: str) -> None:
        self.message_type = message_type
        self.reason = reason

    def error(self) -> UndecodableRequest:
        description = f"the bytes are not a valid {self.message_type} ({self.reason})"
        return UndecodableRequest([FieldViolation("request", description)])


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None
    message_type = _message_type(deserializer)

    def parse(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except DecodeError as exc:
            return Undecodable(message_type, _reason(exc))

    return parse


class _Call:
    __slots__ = ("ended", "key_id", "presented", "request_id", "scope", "start", "status", "timing")

    def __init__(self, context: Context) -> None:
        self.ended = False
        self.request_id, self.key_id, self.presented = read_call(context)
        self.status = _OK
        self.start = 0.0
        self.timing: RpcTiming | None = None
        self.scope: Any = None


class ErrorBorder:
    """`metrics` and `spans` are the telemetry a config turned on (None: off); `auth` who may
    call which service (None: anyone, as an anonymous caller)."""

    def __init__(
        self,
        metrics: GatewayMetrics | None = None,
        spans: ServerSpans | None = None,
        auth: Authentication | None = None,
    ) -> None:
        self._metrics = metrics
        self._spans = spans
        self._auth = auth

    def guard(self, server: grpc.aio.Server) -> GuardedServer:
        """`server` as generated `add_*Servicer_to_server` functions take it, wrapping the
        handlers they register."""
        return GuardedServer(server, self)

    def wrap(self, method: str, handler: Handler) -> Handler:
        deserializer = tolerant(handler.request_deserializer)
        check = None if self._auth is None else self._auth.check_for(method)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary, check),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, handler.unary_stream, check),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # client- and bidi-streaming: none in these services

    def _unary(self, method: str, behaviour: Any, check: Check | None) -> Any:
        async def unary(request: Any, context: Context) -> Any:
            call = self._begin(method, context)
            try:
                _identify(call, check)
                if type(request) is Undecodable:
                    raise request.error()
                return await behaviour(request, context)
            except BaseException as exc:
                await self._fail(method, call, context, exc)
            finally:
                self._end(method, call)

        return unary

    def _stream(self, method: str, behaviour: Any, check: Check | None) -> Any:
        async def stream(request: Any, context: Context) -> None:
            call = self._begin(method, context)
            try:
                _identify(call, check)
                if type(request) is Undecodable:
                    raise request.error()
                messages: AsyncIterator[Any] = behaviour(request, context)
                try:
                    async for message in messages:
                        await context.write(message)
                except asyncio.CancelledError:
                    await _close_cancelled(messages)
                    raise
            except BaseException as exc:
                await self._fail(method, call, context, exc)
            finally:
                self._end(method, call)

        return stream

    async def _fail(self, method: str, call: _Call, context: Context, exc: BaseException) -> None:
        """Ends the call with the status `exc` maps to; re-raises what is not ours to map
        (a cancellation, grpc's own errors)."""
        if isinstance(exc, asyncio.CancelledError):
            call.status = _CANCELLED
            raise exc
        if not isinstance(exc, Exception) or type(exc).__module__.startswith("grpc"):
            code = context.code()
            call.status = code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
            raise exc
        request_id = call.request_id
        if isinstance(exc, UndecodableRequest):
            log.warning("request %s: %s", request_id, exc.violations[0].description)
        status = map_error(exc, request_id)
        call.status = status.code
        self._end(method, call)  # before the status goes out: a caller then sees it counted
        await context.abort(status.code, status.message, status.trailing_metadata)

    def _begin(self, method: str, context: Context) -> _Call:
        call = _Call(context)
        if self._metrics is not None:
            call.timing = RpcTiming()
            CURRENT_RPC.set(call.timing)
        if self._spans is not None:
            call.scope = self._spans.start(method, context.invocation_metadata())
        if call.timing is not None or call.scope is not None:
            call.start = time.perf_counter()
        return call

    def _end(self, method: str, call: _Call) -> None:
        if call.ended or (call.timing is None and call.scope is None):
            return
        call.ended = True
        duration = time.perf_counter() - call.start
        status = call.status
        if self._metrics is not None and call.timing is not None:
            self._metrics.rpc_ended(method, status.name, duration, call.timing.provider_time)
        if call.scope is not None:
            span, token = call.scope
            ServerSpans.end(span, token, status.name, status.value[0])


def _identify(call: _Call, check: Check | None) -> None:
    """Who is calling (raises Unauthenticated), for the servicer to see with the ids."""
    presented, call.presented = call.presented, None  # the key is not kept past this
    caller = Caller.anonymous(call.key_id) if check is None else check(presented, call.key_id)
    _CALL.set(CallIds(call.request_id, call.key_id, caller))  # this RPC's own task: no reset


class GuardedServer:
    """Registers services on a grpc.aio server with every method handler wrapped by the
    border. (Generated code registers each service twice: by name, the server's fast path,
    and as a generic handler, its fallback.)"""

    def __init__(self, server: grpc.aio.Server, border: ErrorBorder) -> None:
        self._server = server
        self._border = border

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        wrap = self._border.wrap
        self._server.add_registered_method_handlers(
            service, {name: wrap(f"/{service}/{name}", h) for name, h in handlers.items()}
        )

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_GuardedGeneric(handler, self._border) for handler in handlers)
        )


class _GuardedGeneric(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler, border: ErrorBorder) -> None:
        self._inner = inner
        self._border = border
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        handler = self._inner.service(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is None or cached[0] is not handler:
            cached = self._wrapped[method] = (handler, self._border.wrap(method, handler))
        return cached[1]


async def _close_cancelled(messages: AsyncIterator[Any]) -> None:
    """A cancellation that landed here, while a message was being written, reaches the
    servicer's generator as its closing. The domain may answer it (a shutdown cut becomes a
    status saying so, with the attempts): that answer is raised instead of the cancellation,
    and the task, no longer cancelled, goes on to send it."""
    aclose = getattr(messages, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except GatewayError:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        raise


def _message_type(deserializer: Callable[[bytes], Any]) -> str:
    # Generated stubs pass the message class's FromString.
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    name = getattr(descriptor, "full_name", None)
    return name if isinstance(name, str) else "request message"


def _reason(error: DecodeError) -> str:
    text = str(error)
    if "MaxDepth" in text or "recursion" in text.lower():
        return "nested deeper than protobuf's limit"
    if "utf-8" in text.lower():
        return "a string field that is not valid UTF-8"
    return "the wire format is corrupt"
