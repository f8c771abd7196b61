"""A zero-latency OpenAI-style upstream: aiohttp on uvloop, loopback only, fixed answers.

    python bench/upstream.py --address 127.0.0.1:PORT [--write-each-frame]

POST /v1/chat/completions answers a chat.completion with usage; with `"stream": true`, an SSE
stream of chat.completion.chunk frames (one per reply word, the workload's text), a usage
chunk when stream_options.include_usage, then `data: [DONE]`. By default a stream's frames go
out in one write (an upstream that has the whole answer at once); --write-each-frame writes
them one by one, as a model producing tokens would. GET /v1/models lists the model;
GET /stats counts what was served, so the benchmark can check that every call reached it.
Runs in its own process so its CPU is not the server's. Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

import uvloop
from aiohttp import web

import workload

MAX_BODY_BYTES = 1 << 20


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def sse_frames(include_usage: bool) -> list[bytes]:
    frames = [b"data: " + _compact(c) + b"\n\n" for c in workload.completion_chunks(include_usage)]
    return [*frames, b"data: [DONE]\n\n"]


class Upstream:
    def __init__(self, write_each_frame: bool) -> None:
        self._completion = _compact(workload.completion_json())
        self._frames = {usage: sse_frames(usage) for usage in (False, True)}
        self._joined = {usage: b"".join(frames) for usage, frames in self._frames.items()}
        self._write_each_frame = write_each_frame
        self._models = _compact(
            {"object": "list", "data": [{"id": workload.UPSTREAM_MODEL, "object": "model"}]}
        )
        self.stats = {"completions": 0, "streams": 0, "rejected": 0}

    async def chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if len(raw) <= MAX_BODY_BYTES else None
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("messages"):
            self.stats["rejected"] += 1
            error = {"error": {"message": "messages is required", "type": "invalid_request"}}
            return web.Response(status=400, body=_compact(error), content_type="application/json")
        if not body.get("stream"):
            self.stats["completions"] += 1
            return web.Response(body=self._completion, content_type="application/json")
        self.stats["streams"] += 1
        options = body.get("stream_options")
        usage = isinstance(options, dict) and bool(options.get("include_usage"))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        if self._write_each_frame:
            for frame in self._frames[usage]:  # a fixed, short list
                await response.write(frame)
        else:
            await response.write(self._joined[usage])
        await response.write_eof()
        return response

    async def models(self, request: web.Request) -> web.Response:
        return web.Response(body=self._models, content_type="application/json")

    async def counts(self, request: web.Request) -> web.Response:
        return web.Response(body=_compact(self.stats), content_type="application/json")


def app(write_each_frame: bool = False) -> web.Application:
    upstream = Upstream(write_each_frame)
    application = web.Application(client_max_size=MAX_BODY_BYTES)
    application.router.add_post(workload.CHAT_PATH, upstream.chat)
    application.router.add_get("/v1/models", upstream.models)
    application.router.add_get("/stats", upstream.counts)
    return application


async def serve(host: str, port: int, write_each_frame: bool) -> None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"upstream: loopback only, not {host}")
    runner = web.AppRunner(app(write_each_frame), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=1024).start()
        print(f"upstream listening on http://{host}:{port}", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:50071", help="loopback HOST:PORT")
    parser.add_argument("--write-each-frame", action="store_true", help="one write per frame")
    args = parser.parse_args(argv)
    host, _, port = args.address.rpartition(":")
    uvloop.run(serve(host, int(port), args.write_each_frame))


if __name__ == "__main__":
    main()
