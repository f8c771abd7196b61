"""The floor: a bare grpc.aio server on uvloop, no routing, no validation.

The gateway is compared with it in the same run. Usage:
    python bench/floor_server.py --address 127.0.0.1:PORT [--upstream http://127.0.0.1:P/v1]
Without --upstream it returns fixed replies (the mock suite). With it (DESIGN.md §8's floor),
each Generate makes one aiohttp POST to the OpenAI-style upstream through one shared
ClientSession and each GenerateStream relays the upstream's SSE chunks as deltas; the replies
have the same shapes. Serves grpc.health.v1 ("" -> SERVING) for readiness; stops on SIGTERM
or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

import workload
from orchestrator.v1 import common_pb2, generate_pb2, orchestrator_service_pb2_grpc

Context = grpc.aio.ServicerContext[object, object]
MAX_SSE_LINES = 10_000  # per stream: bounds the relay loop whatever the upstream sends
UPSTREAM_TIMEOUT_S = 30.0


class FloorServicer(orchestrator_service_pb2_grpc.OrchestratorServiceServicer):
    def __init__(self) -> None:
        self._response = workload.generate_response()
        self._events = workload.stream_events()

    async def Generate(
        self, request: generate_pb2.GenerateRequest, context: Context
    ) -> generate_pb2.GenerateResponse:
        return self._response

    async def GenerateStream(
        self, request: generate_pb2.GenerateStreamRequest, context: Context
    ) -> AsyncIterator[generate_pb2.GenerateStreamResponse]:
        for event in self._events:
            yield event


class UpstreamFloorServicer(orchestrator_service_pb2_grpc.OrchestratorServiceServicer):
    """One upstream call per RPC, the least a relay can do: build the JSON body, POST it,
    read the answer (parse the JSON; for streams, the `data:` lines), reply."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._provider, self._model = workload.UPSTREAM_PROVIDER, workload.UPSTREAM_MODEL

    def _body(self, prompt: str) -> dict[str, Any]:
        return {"model": self._model, "messages": [{"role": "user", "content": prompt}]}

    async def Generate(
        self, request: generate_pb2.GenerateRequest, context: Context
    ) -> generate_pb2.GenerateResponse:
        async with self._session.post(self._url, json=self._body(request.prompt)) as response:
            data = json.loads(await response.read())
        return workload.generate_response(
            text=data["choices"][0]["message"]["content"],
            provider=self._provider,
            model=data["model"],
            reply_usage=_usage(data["usage"]),
            currency="",
        )

    async def GenerateStream(
        self, request: generate_pb2.GenerateStreamRequest, context: Context
    ) -> AsyncIterator[generate_pb2.GenerateStreamResponse]:
        body = self._body(request.prompt)
        body["stream"], body["stream_options"] = True, {"include_usage": True}
        usage: dict[str, int] = {}
        started = False
        async with self._session.post(self._url, json=body) as response:
            lines = 0
            async for line in response.content:
                lines += 1
                if lines > MAX_SSE_LINES:
                    raise RuntimeError("upstream stream too long")
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    break
                chunk = json.loads(payload)
                usage = chunk.get("usage") or usage
                choices = chunk.get("choices")
                text = choices[0]["delta"].get("content") if choices else None
                if text:
                    if not started:
                        started = True
                        yield workload.stream_start(self._provider, self._model)
                    yield workload.stream_delta(text)
        if not started:
            yield workload.stream_start(self._provider, self._model)
        yield workload.stream_end(
            provider=self._provider,
            model=self._model,
            reply_usage=_usage(usage),
            currency="",
        )


def _usage(raw: dict[str, int]) -> common_pb2.Usage:
    return common_pb2.Usage(
        prompt_tokens=raw.get("prompt_tokens", 0),
        completion_tokens=raw.get("completion_tokens", 0),
        total_tokens=raw.get("total_tokens", 0),
    )


async def serve(address: str, upstream: str | None) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    session = None
    servicer: orchestrator_service_pb2_grpc.OrchestratorServiceServicer = FloorServicer()
    if upstream is not None:
        if urllib.parse.urlsplit(upstream).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"floor: the upstream must be on loopback, not {upstream}")
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100),  # as the gateway's max_connections
            timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_S),
        )
        servicer = UpstreamFloorServicer(session, upstream)
    orchestrator_service_pb2_grpc.add_OrchestratorServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if server.add_insecure_port(address) == 0:
        raise SystemExit(f"floor: cannot listen on {address}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    print(f"floor listening on {address}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(0.5)
    if session is not None:
        await session.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:50061", help="loopback HOST:PORT")
    parser.add_argument("--upstream", help="OpenAI-style base URL, e.g. http://127.0.0.1:P/v1")
    args = parser.parse_args(argv)
    uvloop.run(serve(args.address, args.upstream))


if __name__ == "__main__":
    main()
