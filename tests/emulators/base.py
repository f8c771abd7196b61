"""What every provider emulator shares: a loopback aiohttp server that records each request,
a switchable behaviour (success, HTTP errors, malformed bodies, cut or failing streams, slow
first byte), and disconnect detection for cancelled streams."""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # keys lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Behaviour:
    """What the emulator does with the next requests.

    mode: "ok" | "error" (answer `status` with `error_body`) | "malformed" (200 with a body
    that is not the provider's JSON) | "cut" (stream `cut_after` chunks, then drop the
    connection) | "truncate" (stream `cut_after` chunks, then end the body cleanly, without
    the provider's end marker) | "stream_error" (stream `cut_after` chunks, then an
    in-stream error frame) | "hang" (never answer) | "redirect" (answer `status`, a 3xx, with
    a Location header of `location` plus the request's path and query, on every route)."""

    mode: str = "ok"
    text: str = "Hello from the emulator"
    words_per_chunk: int = 1
    status: int = 500
    error_body: Any = None  # None: the provider's usual body for `status`
    retry_after: str | None = None
    retry_after_ms: str | None = None
    cut_after: int = 1
    first_byte_delay: float = 0.0  # seconds before the status line
    chunk_delay: float = 0.0  # seconds between stream chunks
    times: int | None = None  # apply to this many requests, then back to "ok"
    usage: bool = True  # report usage
    # The model "calls tools" instead of answering: each {"name": ..., "arguments": {...}}
    # (arguments may also be a string, sent as it is, e.g. invalid JSON).
    tool_calls: list[dict[str, Any]] | None = None
    location: str = ""  # "redirect": where to send the client (scheme://host:port)

    def chunks(self) -> list[str]:
        words = self.text.split(" ")
        n = self.words_per_chunk
        pieces = [" ".join(words[i : i + n]) for i in range(0, len(words), n)]
        return [p if i == 0 else " " + p for i, p in enumerate(pieces)]


class Emulator:
    """Subclasses add routes in `routes()` and use `behaviour_for()` in handlers."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.behaviour = Behaviour()
        self.disconnects = 0
        self.disconnected = asyncio.Event()
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    async def start(self, *, tls: ssl.SSLContext | None = None) -> str:
        app = web.Application(middlewares=[self._redirects])
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @web.middleware
    async def _redirects(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.behaviour.mode != "redirect":
            response: web.StreamResponse = await handler(request)
            return response
        behaviour = await self.record(request)
        return web.Response(
            status=behaviour.status,
            headers={"Location": behaviour.location + request.path_qs},
            text="moved",
        )

    @property
    def open_connections(self) -> int:
        """Client connections open right now (kept alive between requests, or busy)."""
        server = None if self._runner is None else self._runner.server
        assert server is not None, "the emulator is not running"
        return len(server.connections)

    def set(self, **changes: Any) -> None:
        self.behaviour = Behaviour(**changes)

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    async def record(self, request: web.Request) -> Behaviour:
        """Records the request and returns the behaviour that applies to it."""
        body = await request.read()
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.query),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        behaviour = self.behaviour
        if behaviour.times is not None:
            behaviour.times -= 1
            if behaviour.times <= 0:
                self.behaviour = Behaviour()
        if behaviour.first_byte_delay:
            await asyncio.sleep(behaviour.first_byte_delay)
        if behaviour.mode == "hang":
            await asyncio.Event().wait()
        return behaviour

    def error_response(self, behaviour: Behaviour, default_body: Any) -> web.Response:
        headers = {}
        if behaviour.retry_after is not None:
            headers["Retry-After"] = behaviour.retry_after
        if behaviour.retry_after_ms is not None:
            headers["retry-after-ms"] = behaviour.retry_after_ms
        body = behaviour.error_body if behaviour.error_body is not None else default_body
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(
            status=behaviour.status, text=text, headers=headers, content_type="application/json"
        )

    async def stream(
        self,
        request: web.Request,
        behaviour: Behaviour,
        frames: list[bytes],
        *,
        content_type: str,
        error_frame: bytes | None = None,
    ) -> web.StreamResponse:
        """Writes frames one by one. "cut" drops the connection after `cut_after` frames;
        "truncate" ends the body there as if it were complete; "stream_error" sends
        `error_frame` there instead. A client that goes away is counted in `disconnects`."""
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        try:
            for i, frame in enumerate(frames):
                if behaviour.mode == "truncate" and i >= behaviour.cut_after:
                    break
                if behaviour.mode in ("cut", "stream_error") and i >= behaviour.cut_after:
                    if behaviour.mode == "stream_error" and error_frame is not None:
                        await response.write(error_frame)
                        await response.write_eof()
                        return response
                    assert request.transport is not None
                    request.transport.close()  # mid-body: the client sees a broken stream
                    return response
                if i and behaviour.chunk_delay:
                    await asyncio.sleep(behaviour.chunk_delay)
                await response.write(frame)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.disconnects += 1
            self.disconnected.set()
            raise
        return response
