"""What invented model names do to /metrics: a caller sends N Generate calls, each naming a
model nobody configured (`mock/invented-i`), then the endpoint is scraped. Reports the
scrape's size, its duration, and the longest event-loop stall seen while scrapes run (a
ticker task on the server's loop, waking every millisecond). With --configured, the names
are configured models of the provider instead (a large legitimate deployment): then every
name is a series, and the render's cost is what the worker thread keeps off the loop.

    .venv/bin/python bench/metrics_cardinality.py [--names 3000] [--scrapes 5] [--configured]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.v1 import generate_pb2
from tests.helpers import make_config, mock_provider, running

SCRAPE = """
import sys, time, urllib.request
began = time.perf_counter()
body = urllib.request.urlopen(sys.argv[1]).read()
print(len(body), time.perf_counter() - began)
"""


async def ticker(stalls: list[float], stop: asyncio.Event) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        stalls.append(now - last - 0.001)
        last = now


async def main(names: int, scrapes: int, configured: bool) -> None:
    provider = mock_provider("mock", "mock-model")
    if configured:
        provider["models"] = [f"invented-{i}" for i in range(names)]
    config = make_config(provider, telemetry={"metrics": {"address": "127.0.0.1:0"}})
    async with running(config) as server:
        for start in range(0, names, 200):
            await asyncio.gather(
                *(
                    server.stub.Generate(
                        generate_pb2.GenerateRequest(prompt="hi", model=f"mock/invented-{i}")
                    )
                    for i in range(start, min(names, start + 200))
                )
            )
        url = f"http://127.0.0.1:{server.app.telemetry.metrics_port}/metrics"
        # The same ticker with nothing to do, as long as the scrapes will take: what the
        # machine itself (other processes, the scheduler) costs the loop.
        idle: list[float] = []
        stop = asyncio.Event()
        task = asyncio.ensure_future(ticker(idle, stop))
        await asyncio.sleep(scrapes * 1.0)
        stop.set()
        await task
        stalls: list[float] = []
        stop = asyncio.Event()
        task = asyncio.ensure_future(ticker(stalls, stop))
        sizes, durations = [], []
        for _ in range(scrapes):
            # The scraper is another process, as Prometheus is: this loop only serves.
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", SCRAPE, url, stdout=asyncio.subprocess.PIPE
            )
            out, _ = await process.communicate()
            durations.append(float(out.split()[1]))
            sizes.append(int(out.split()[0]))
        stop.set()
        await task
    kind = "configured" if configured else "invented"
    print(f"{kind} names sent: {names}; scrapes: {scrapes}")
    print(f"scrape size: {statistics.median(sizes) / 1024:.1f} KiB")
    print(
        f"scrape time: median {statistics.median(durations) * 1000:.1f} ms "
        f"(min {min(durations) * 1000:.1f}, max {max(durations) * 1000:.1f})"
    )
    print(f"longest loop stall while scraping: {max(stalls) * 1000:.1f} ms")
    print(f"longest loop stall when idle: {max(idle) * 1000:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--names", type=int, default=3000)
    parser.add_argument("--scrapes", type=int, default=5)
    parser.add_argument("--configured", action="store_true")
    args = parser.parse_args()
    uvloop.run(main(args.names, args.scrapes, args.configured))
