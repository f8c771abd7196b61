"""The one place gRPC calls are authenticated: an interceptor that takes the presented key
from the metadata and asks the auth package. Every OrchestratorService method (present and
future) needs a caller key when `auth` is configured; every AdminService method needs the
admin token; health and reflection stay open.

The authenticated Caller reaches the servicer through a context variable set in the call's
own task (`current_caller`), so no servicer method can forget to check."""

from __future__ import annotations

import contextvars
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeAlias

import grpc

from orchestrator.v1 import admin_pb2, orchestrator_service_pb2
from orchestrator_server.api.calls import abort, caller_request_id
from orchestrator_server.auth.admin import AdminToken
from orchestrator_server.auth.failures import AuthFailures
from orchestrator_server.auth.keys import KeyTable
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.errors import Unauthenticated

Context = grpc.aio.ServicerContext[Any, Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Clock = Callable[[], datetime.datetime]

CALLER_SERVICE = orchestrator_service_pb2.DESCRIPTOR.services_by_name["OrchestratorService"]
ADMIN_SERVICE = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]
_CALLER_PREFIX = f"/{CALLER_SERVICE.full_name}/"
_ADMIN_PREFIX = f"/{ADMIN_SERVICE.full_name}/"

CURRENT_CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "orchestrator_caller", default=None
)


def current_caller(declared_key_id: str = "") -> Caller:
    """The authenticated caller of this call; without `auth`, an anonymous one carrying the
    key id the caller declared (`x-api-key-id`)."""
    caller = CURRENT_CALLER.get()
    return caller if caller is not None else Caller.anonymous(declared_key_id)


def presented_key(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """`authorization: Bearer <key>`, else `x-api-key: <key>`."""
    api_key = None
    for name, value in metadata or ():
        if not isinstance(value, str):
            continue
        if name == "authorization":
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == "x-api-key" and value.strip():
            api_key = value.strip()
    return api_key


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        keys: Callable[[], KeyTable | None],
        admin: AdminToken | None,
        failures: AuthFailures,
        clock: Clock = _utc_now,
    ) -> None:
        """`keys` gives the key table of the configuration serving now (None: no `auth`),
        so a reload that adds, rotates or removes keys applies from the next call."""
        self._keys = keys
        self._admin = admin
        self._failures = failures
        self._clock = clock
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None:
            return None
        if method.startswith(_CALLER_PREFIX):
            check = self._caller
        elif method.startswith(_ADMIN_PREFIX):
            check = self._operator
        else:
            return handler  # health, reflection
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = _wrap(handler, check)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    async def _caller(self, context: Context) -> None:
        keys = self._keys()
        if keys is None:
            return
        try:
            caller = keys.authenticate(presented_key(context.invocation_metadata()), self._clock())
        except Unauthenticated as exc:
            self._failures.add(exc)
            await abort(context, exc, caller_request_id(context))
        CURRENT_CALLER.set(caller)  # this call's own task: seen by the servicer only

    async def _operator(self, context: Context) -> None:
        admin = self._admin
        if admin is not None and admin.matches(presented_key(context.invocation_metadata())):
            return
        error = Unauthenticated("AdminService needs 'authorization: Bearer <admin token>'")
        self._failures.add(error)
        await abort(context, error, caller_request_id(context))


Check = Callable[[Context], Awaitable[None]]


def _wrap(handler: Handler, check: Check) -> Handler:
    if handler.unary_unary is not None:
        behaviour: Any = handler.unary_unary

        async def unary(request: Any, context: Context) -> Any:
            await check(context)
            return await behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        streaming: Any = handler.unary_stream

        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            await check(context)
            async for message in streaming(request, context):
                yield message

        return grpc.unary_stream_rpc_method_handler(
            stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    # No client- or bidi-streaming method exists; one added later must be wrapped here
    # before it is served.
    raise TypeError(f"{handler!r}: only unary and server-streaming methods are authenticated")
