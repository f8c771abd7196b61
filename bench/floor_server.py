"""The floor: a bare grpc.aio server on uvloop with fixed replies, no routing, no validation.

The gateway is compared with it in the same run. Usage:
    python bench/floor_server.py --address 127.0.0.1:PORT
Serves grpc.health.v1 ("" -> SERVING) for readiness; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Sequence

import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

import workload
from orchestrator.v1 import generate_pb2, orchestrator_service_pb2_grpc

Context = grpc.aio.ServicerContext[object, object]


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


async def serve(address: str) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    orchestrator_service_pb2_grpc.add_OrchestratorServiceServicer_to_server(FloorServicer(), server)
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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:50061", help="loopback HOST:PORT")
    args = parser.parse_args(argv)
    uvloop.run(serve(args.address))


if __name__ == "__main__":
    main()
