"""The HTTP floor: the least an OpenAI-compatible HTTP proxy can do, for the HTTP peers of
bench/peers.py what floor_server.py is for the gateway's gRPC.

    python bench/http_floor.py --address 127.0.0.1:PORT --upstream http://127.0.0.1:P/v1

aiohttp on uvloop. POST /v1/chat/completions: parse the JSON body, make one aiohttp POST to the
upstream through one shared ClientSession, parse its answer, send it back as JSON. No auth, no
routing, no logging. GET /health answers {"ok": true}. Loopback only; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import urllib.parse
from collections.abc import Sequence

import aiohttp
import uvloop
from aiohttp import web

MAX_BODY_BYTES = 1 << 20
UPSTREAM_TIMEOUT_S = 30.0


class Relay:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/chat/completions"

    async def chat(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if len(raw) <= MAX_BODY_BYTES else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"error": {"message": "a JSON object"}}, status=400)
        async with self._session.post(self._url, json=body) as response:
            reply = json.loads(await response.read())
            status = response.status
        return web.json_response(reply, status=status)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})


async def serve(address: str, upstream: str) -> None:
    if urllib.parse.urlsplit(upstream).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"http floor: the upstream must be on loopback, not {upstream}")
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100),  # as the gateway's max_connections
        timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_S),
    )
    relay = Relay(session, upstream)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/v1/chat/completions", relay.chat)
    app.router.add_get("/health", relay.health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, _, port = address.rpartition(":")
    await web.TCPSite(runner, host, int(port)).start()
    print(f"http floor listening on {address}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await session.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:50062", help="loopback HOST:PORT")
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:P/v1")
    args = parser.parse_args(argv)
    uvloop.run(serve(args.address, args.upstream))


if __name__ == "__main__":
    main()
